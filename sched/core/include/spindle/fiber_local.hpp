/// @file
/// spindle/fiber_local.hpp: FiberLocal<T>, storage with one instance per fiber.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

namespace detail {
// FlsKey names one FiberLocal: a slot index plus a generation, so that a slot index reused by a
// later FiberLocal never hands out a value of the old one.
struct FlsKey {
  std::uint32_t index;
  std::uint32_t generation;
};
// fls_key_new reserves a key (reusing released indexes). Throws std::bad_alloc.
FlsKey fls_key_new();
// fls_key_release returns a key's index for reuse; values still held by fibers are destroyed when
// those fibers end (or on their next access through a newer key).
void fls_key_release(FlsKey key) noexcept;
// fls_get returns the calling fiber's value for `key` (the calling thread's outside fibers), or
// nullptr if it has none.
void* fls_get(FlsKey key) noexcept;
// fls_set stores `value` (destroyed later with `destroy(value)`) as the calling fiber's (or
// thread's) value for `key`, destroying any previous one. Throws std::bad_alloc (then `value` is
// destroyed first).
void fls_set(FlsKey key, void* value, void (*destroy)(void*));
// fls_set_nothrow_clear destroys the calling fiber's (or thread's) value for `key`, if any.
void fls_set_nothrow_clear(FlsKey key) noexcept;
}  // namespace detail

/// FiberLocal<T> is a variable with one instance per fiber, like thread_local is per thread: get()
/// returns the calling fiber's T, default-constructed (or made by the init function) on first use
/// in that fiber, and destroyed when the fiber ends (on the fiber's own stack, before its
/// JoinHandle sees it finish; the destructors may block, and run with cancellation masked, so a
/// cancelled fiber's destructors are not interrupted by Cancelled). Outside any fiber, each OS
/// thread has its own instance, destroyed when the thread exits.
///
/// Why not thread_local: a fiber may resume on a different worker thread after any switch (yield,
/// sleep, lock, recv, join...), so a thread_local read before a switch and after it may be two
/// different variables, and other fibers on the same thread share it. FiberLocal follows the fiber.
///
/// A FiberLocal object may be destroyed while fibers still hold values for it; those values are
/// destroyed when their fibers end. Accessing values is not synchronized across fibers (each fiber
/// only sees its own). Keep FiberLocal objects long-lived (static or member of a long-lived
/// object): creating one costs a lock, accessing one is a few loads.
template <class T>
class FiberLocal {
 public:
  /// FiberLocal creates a fiber-local variable whose instances are value-initialized. Throws
  /// std::bad_alloc.
  FiberLocal() : key_(detail::fls_key_new()), init_(nullptr) {}
  /// FiberLocal creates a fiber-local variable whose instances are made by `init()` (a plain
  /// function, called in the fiber on its first get()).
  explicit FiberLocal(T (*init)()) : key_(detail::fls_key_new()), init_(init) {}
  FiberLocal(const FiberLocal&) = delete;
  FiberLocal& operator=(const FiberLocal&) = delete;
  /// ~FiberLocal releases the key (see the class comment for values still held).
  ~FiberLocal() { detail::fls_key_release(key_); }

  /// get returns the calling fiber's instance, creating it on first use. Never blocks. Throws what
  /// T's constructor or the init function throws, or std::bad_alloc.
  T& get() {
    if (void* p = detail::fls_get(key_)) return *static_cast<T*>(p);
    T* fresh = init_ != nullptr ? new T(init_()) : new T();
    detail::fls_set(key_, fresh, [](void* v) { delete static_cast<T*>(v); });
    return *fresh;
  }
  /// operator* is get().
  T& operator*() { return get(); }
  /// operator-> is &get().
  T* operator->() { return &get(); }
  /// has_value says whether the calling fiber already has an instance (never creates one).
  bool has_value() const noexcept { return detail::fls_get(key_) != nullptr; }
  /// set replaces the calling fiber's instance with `v`. Throws what T's constructor throws.
  void set(T v) {
    T* fresh = new T(std::move(v));
    detail::fls_set(key_, fresh, [](void* p) { delete static_cast<T*>(p); });
  }
  /// reset destroys the calling fiber's instance, if any; the next get() creates a new one.
  void reset() noexcept { detail::fls_set_nothrow_clear(key_); }

 private:
  detail::FlsKey key_;
  T (*init_)();
};

}  // namespace spindle

SPINDLE_API_END
