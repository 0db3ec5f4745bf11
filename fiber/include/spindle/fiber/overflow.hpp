// spindle/fiber/overflow.hpp: reporting fiber stack overflows.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace spindle::fiber {

// FiberDebugInfo describes the fiber running on a thread, for the stack-overflow report. The
// scheduler owns it (it lives in the fiber's control block) and must keep it valid while it is
// current.
struct FiberDebugInfo {
  std::uint64_t id = 0;               // task id
  const char* name = nullptr;         // NUL-terminated name, or nullptr
  const void* stack_limit = nullptr;  // lowest usable stack address (Stack::limit)
  std::size_t stack_size = 0;         // usable bytes
  std::size_t guard_size = 0;         // bytes of guard below stack_limit
};

// install_overflow_handler installs (once per process; later calls do nothing) a SIGSEGV/SIGBUS
// handler that runs on the thread's alternate signal stack. When the faulting address lies in the
// guard region of the fiber current on the faulting thread, it writes
//   "spindle: stack overflow in fiber <id> ("<name>"), stack size <n> bytes (fault address 0x...)"
// to stderr (async-signal-safe; ` ("<name>")` is left out when name is null), restores the default
// action and returns, so the fault repeats and the process dies of the signal. "In the guard
// region" means a kernel-raised fault (si_code > 0) whose address lies in [stack_limit - 2 *
// guard_size, stack_limit): the guard itself plus one more guard size below it, for a frame that
// jumped over the guard onto memory that also faults. Faults inside the usable range [stack_limit,
// stack_limit + stack_size) are never reported. Any other fault is passed to the previously
// installed handler (its sa_sigaction or sa_handler; with SIG_DFL or SIG_IGN the default action is
// restored and the fault repeats). Installing replaces a sanitizer's SIGSEGV handler, which then
// only sees the faults that are not overflows. Throws std::system_error if sigaction fails.
void install_overflow_handler();

// AltSignalStack gives the calling thread an alternate signal stack for its lifetime (so the
// overflow handler can run when the fiber stack is exhausted). Construct one at the top of every
// worker thread. Throws std::system_error if the stack cannot be mapped or sigaltstack fails.
class AltSignalStack {
 public:
  AltSignalStack();
  ~AltSignalStack();
  AltSignalStack(const AltSignalStack&) = delete;
  AltSignalStack& operator=(const AltSignalStack&) = delete;

 private:
  void* mem_ = nullptr;   // mapping: one guard page, then the signal stack
  std::size_t size_ = 0;  // usable bytes of the signal stack (above the guard page)
  bool installed_ = false;
  // The alternate stack that was installed before (restored by the destructor).
  void* prev_sp_ = nullptr;
  std::size_t prev_size_ = 0;
  int prev_flags_ = 0;
};

namespace detail {
// tls_current_fiber_info is the calling thread's current fiber (read by the signal handler).
extern constinit thread_local const FiberDebugInfo* tls_current_fiber_info;
}  // namespace detail

// set_current_fiber_debug_info records which fiber is running on the calling thread (nullptr: none,
// the thread runs on its own stack). One thread-local store; the scheduler calls it on every
// switch. The signal fence (no instruction) keeps the compiler from dropping or sinking the store
// when it can see that no ordinary code reads it before the next call: only the signal handler
// does.
inline void set_current_fiber_debug_info(const FiberDebugInfo* info) noexcept {
  detail::tls_current_fiber_info = info;
  std::atomic_signal_fence(std::memory_order_seq_cst);
}

}  // namespace spindle::fiber
