/* spindle/sys.h: small C ABI shims over the operating system.
 *
 * Every function here is callable from C and C++ (extern "C"), is thread-safe, never allocates and
 * never throws. They are the only place in Spindle that talks to the OS clock/sleep/CPU APIs
 * directly, so a port (Windows, a new POSIX) starts here. */
#ifndef SPINDLE_SYS_H_
#define SPINDLE_SYS_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* spindle_sys_sleep_ms blocks the calling OS thread for at least `ms` milliseconds (restarting
 * after signal interruptions). It blocks the whole thread: inside a fiber use
 * spindle::this_fiber::sleep_for. */
void spindle_sys_sleep_ms(uint32_t ms);

/* spindle_sys_monotonic_time_ns returns a monotonic (steady) clock reading in nanoseconds. It never
 * goes backwards and is unaffected by wall-clock changes; only differences between readings are
 * meaningful. */
uint64_t spindle_sys_monotonic_time_ns(void);

/* spindle_sys_cpu_time_ns returns the CPU time consumed so far by the calling thread, in
 * nanoseconds. */
uint64_t spindle_sys_cpu_time_ns(void);

/* spindle_sys_yield gives up the rest of the calling OS thread's time slice (sched_yield). */
void spindle_sys_yield(void);

/* spindle_sys_cpu_count returns the number of CPUs this process may run on: the size of its
 * affinity mask (taskset/cgroup cpusets shrink it), not the machine's total. Always >= 1. */
uint32_t spindle_sys_cpu_count(void);

/* spindle_sys_affinity_cpus writes the CPUs this process may run on (its affinity mask, ascending)
 * to out[0..cap) and returns how many there are in total (which may exceed cap); 0 when the mask
 * cannot be read (non-Linux, or sched_getaffinity failed). */
uint32_t spindle_sys_affinity_cpus(int* out, uint32_t cap);

/* spindle_sys_pin_thread restricts the calling thread to CPU `cpu` (pthread_setaffinity_np).
 * Returns 0 or an errno value (ENOSYS where affinity is not supported). */
int spindle_sys_pin_thread(int cpu);

/* spindle_sys_set_thread_name names the calling thread (pthread_setname_np; what
 * /proc/self/task/<tid>/comm shows on Linux, at most 15 bytes there). Returns 0 or an errno value
 * (ERANGE for a name too long; ENOSYS where not supported). */
int spindle_sys_set_thread_name(const char* name);

#ifdef __cplusplus
}
#endif

#endif /* SPINDLE_SYS_H_ */
