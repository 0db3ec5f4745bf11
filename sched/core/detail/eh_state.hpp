// sched/core/detail/eh_state.hpp (internal): per-fiber C++ exception-handling state.
//
// The Itanium C++ ABI keeps, per OS thread, the chain of exceptions currently being handled (caught
// and not yet finished) and the count of exceptions in flight (std::uncaught_exceptions). A fiber
// that blocks inside a catch block, or in a destructor during unwinding, and then resumes on
// another worker would leave that state on the wrong thread. So every switch saves the thread's
// state into the fiber that leaves and installs the state of the fiber that arrives. A worker
// caches the address of its thread's state once (the function that returns it is declared const and
// must not be called across a switch).
#pragma once

namespace spindle::detail {

// EhState mirrors the ABI's __cxa_eh_globals (libstdc++ and libc++abi share this layout).
struct EhState {
  void* caught_exceptions = nullptr;
  unsigned int uncaught_exceptions = 0;
#if defined(__ARM_EABI_UNWINDER__)
  void* propagating_exceptions = nullptr;  // ARM EHABI has a third field
#endif
};

// thread_eh_state returns the calling OS thread's exception-handling state.
EhState* thread_eh_state() noexcept;

}  // namespace spindle::detail
