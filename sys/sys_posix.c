/* POSIX implementation of spindle/sys.h. */
#include "spindle/sys.h"

#include <pthread.h>

#include <errno.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

void spindle_sys_sleep_ms(uint32_t ms) {
  struct timespec req;
  req.tv_sec = (time_t)(ms / 1000u);
  req.tv_nsec = (long)(ms % 1000u) * 1000000L;
  /* clock_nanosleep returns the error number (it does not set errno); restart on EINTR with the
   * rest. */
  struct timespec rem;
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &req, &rem) == EINTR) {
    req = rem;
  }
}

static uint64_t read_clock_ns(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t spindle_sys_monotonic_time_ns(void) {
  return read_clock_ns(CLOCK_MONOTONIC);
}

uint64_t spindle_sys_cpu_time_ns(void) {
  return read_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

void spindle_sys_yield(void) {
  sched_yield();
}

uint32_t spindle_sys_cpu_count(void) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return (uint32_t)n;
  }
#endif
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (uint32_t)n : 1u;
}

uint32_t spindle_sys_affinity_cpus(int* out, uint32_t cap) {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  uint32_t n = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    if (n < cap) out[n] = cpu;
    ++n;
  }
  return n;
#else
  (void)out;
  (void)cap;
  return 0;
#endif
}

int spindle_sys_pin_thread(int cpu) {
#if defined(__linux__)
  if (cpu < 0 || cpu >= CPU_SETSIZE) return EINVAL;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
#else
  (void)cpu;
  return ENOSYS;
#endif
}

int spindle_sys_set_thread_name(const char* name) {
#if defined(__linux__)
  return pthread_setname_np(pthread_self(), name);
#else
  (void)name;
  return ENOSYS;
#endif
}
