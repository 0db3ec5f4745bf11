// Context switching on Boost.Context fcontext with sanitizer annotations.
#include "spindle/fiber/context.hpp"

#include <cstdlib>

namespace spindle::fiber {

void Context::make(const Stack& stack, ContextEntry entry) noexcept {
  fctx_ = boost::context::detail::make_fcontext(stack.top(), stack.size, entry);
#if SPINDLE_ASAN
  fake_stack_ = nullptr;
  stack_bottom_ = stack.limit;
  stack_size_ = stack.size;
#endif
#if SPINDLE_TSAN
  if (tsan_fiber_ == nullptr) {
    tsan_fiber_ = __tsan_create_fiber(0);
    owns_tsan_fiber_ = true;
  }
#endif
}

void Context::bind_current_thread() noexcept {
  fctx_ = nullptr;  // filled in when the thread switches away
#if SPINDLE_TSAN
  tsan_fiber_ = __tsan_get_current_fiber();
  owns_tsan_fiber_ = false;
#endif
}

void Context::release() noexcept {
  fctx_ = nullptr;
#if SPINDLE_TSAN
  if (owns_tsan_fiber_ && tsan_fiber_ != nullptr) __tsan_destroy_fiber(tsan_fiber_);
  tsan_fiber_ = nullptr;
  owns_tsan_fiber_ = false;
#endif
}

void switch_final(Context& from, Context& to, void* data) noexcept {
  detail::SwitchPacket packet{&from, data};
#if SPINDLE_ASAN
  // A finishing fiber passes no fake-stack slot: ASan frees its fake frames.
  __sanitizer_start_switch_fiber(nullptr, to.stack_bottom_, to.stack_size_);
#endif
#if SPINDLE_TSAN
  __tsan_switch_to_fiber(to.tsan_fiber_, 0);
#endif
  auto fctx = to.fctx_;
  to.fctx_ = nullptr;
  boost::context::detail::jump_fcontext(fctx, &packet);
  std::abort();  // a finished context is never resumed
}

Transfer first_resume(boost::context::detail::transfer_t t) noexcept {
#if SPINDLE_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(nullptr, &bottom, &size);
  Transfer r = on_resume(t);
  if (r.from != nullptr) {
    r.from->stack_bottom_ = bottom;
    r.from->stack_size_ = size;
  }
  return r;
#else
  return on_resume(t);
#endif
}

}  // namespace spindle::fiber
