// spindle/fiber/context.hpp: execution contexts and the context switch (Boost.Context fcontext),
// with AddressSanitizer and ThreadSanitizer fiber annotations on every switch when built with them.
#pragma once

#include <cstddef>

#include <boost/context/detail/fcontext.hpp>

#include "spindle/fiber/stack_pool.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define SPINDLE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SPINDLE_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SPINDLE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SPINDLE_TSAN 1
#endif
#endif

#if SPINDLE_ASAN
extern "C" {
void __sanitizer_start_switch_fiber(void** fake_stack_save, const void* bottom, std::size_t size);
void __sanitizer_finish_switch_fiber(void* fake_stack_save, const void** bottom_old,
                                     std::size_t* size_old);
}
#endif
#if SPINDLE_TSAN
extern "C" {
void* __tsan_get_current_fiber(void);
void* __tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void* fiber);
void __tsan_switch_to_fiber(void* fiber, unsigned flags);
}
#endif

namespace spindle::fiber {

class Context;
struct Transfer;
Transfer first_resume(boost::context::detail::transfer_t t) noexcept;
[[noreturn]] void switch_final(Context& from, Context& to, void* data) noexcept;

// Transfer is what a resumed context receives: the context that switched to it (already saved, so
// it may be resumed by anyone from now on) and the pointer that context passed along.
struct Transfer {
  Context* from;
  void* data;
};

// ContextEntry is the function a new context starts in. Its first call must be first_resume(t); it
// must never return: it ends with switch_final().
using ContextEntry = void (*)(boost::context::detail::transfer_t) noexcept;

// Context is one suspended or running execution context: either an OS thread's own stack
// (Context::bind_current_thread) or a fiber stack (Context::make). Not copyable or movable: the
// switch code keeps pointers to it.
class Context {
 public:
  Context() = default;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // make prepares this context to run `entry` on `stack` when first switched to. Never throws.
  void make(const Stack& stack, ContextEntry entry) noexcept;
  // bind_current_thread makes this context represent the calling OS thread's own stack, so fibers
  // can switch back to it. Never throws.
  void bind_current_thread() noexcept;
  // release frees the sanitizer state of a finished fiber context. Call it after the context has
  // switched away for the last time (never on the running context).
  void release() noexcept;

  // valid says whether the context holds a saved state that can be resumed.
  bool valid() const noexcept { return fctx_ != nullptr; }

 private:
  friend Transfer switch_context(Context& from, Context& to, void* data) noexcept;
  friend void switch_final(Context& from, Context& to, void* data) noexcept;
  friend Transfer on_resume(boost::context::detail::transfer_t t) noexcept;
  friend Transfer first_resume(boost::context::detail::transfer_t t) noexcept;

  boost::context::detail::fcontext_t fctx_ = nullptr;
#if SPINDLE_ASAN
  void* fake_stack_ = nullptr;
  const void* stack_bottom_ = nullptr;
  std::size_t stack_size_ = 0;
#endif
#if SPINDLE_TSAN
  void* tsan_fiber_ = nullptr;
  bool owns_tsan_fiber_ = false;
#endif
};

namespace detail {
// SwitchPacket travels through jump_fcontext: who is switching and what it passes along.
struct SwitchPacket {
  Context* from;
  void* data;
};
}  // namespace detail

// on_resume finishes a switch on the resumed side: records the suspended context's saved state and
// completes the sanitizer bookkeeping. Called by switch_context and by a new context's trampoline.
inline Transfer on_resume(boost::context::detail::transfer_t t) noexcept {
  auto* packet = static_cast<detail::SwitchPacket*>(t.data);
  Context* from = packet->from;
  void* data = packet->data;
  if (from != nullptr) from->fctx_ = t.fctx;
  return Transfer{from, data};
}

// switch_context suspends the running context `from` and resumes `to`, handing it `data`. It
// returns when some context later switches back to `from`, with that context and its data. `to`
// must be valid and not running; `from` must be the running context. Never throws.
inline Transfer switch_context(Context& from, Context& to, void* data) noexcept {
  detail::SwitchPacket packet{&from, data};
#if SPINDLE_ASAN
  __sanitizer_start_switch_fiber(&from.fake_stack_, to.stack_bottom_, to.stack_size_);
#endif
#if SPINDLE_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber_, 0);
#endif
  auto fctx = to.fctx_;
  to.fctx_ = nullptr;
  auto t = boost::context::detail::jump_fcontext(fctx, &packet);
#if SPINDLE_ASAN
  {
    const void* bottom = nullptr;
    std::size_t size = 0;
    __sanitizer_finish_switch_fiber(from.fake_stack_, &bottom, &size);
    Transfer r = on_resume(t);
    if (r.from != nullptr) {
      r.from->stack_bottom_ = bottom;
      r.from->stack_size_ = size;
    }
    return r;
  }
#else
  return on_resume(t);
#endif
}

// switch_final leaves `from` for good (its fiber has finished) and resumes `to` with `data`. The
// resumed side receives `from` in its Transfer and may then release `from`'s stack. Never returns.
[[noreturn]] void switch_final(Context& from, Context& to, void* data) noexcept;

// first_resume must be the first call in a ContextEntry: it completes the switch that started the
// context (including sanitizer bookkeeping) and returns what the starter passed.
Transfer first_resume(boost::context::detail::transfer_t t) noexcept;

}  // namespace spindle::fiber
