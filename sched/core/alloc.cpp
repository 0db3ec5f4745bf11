// Allocation of task control blocks, chosen at build time (SPINDLE_ALLOCATOR, the top-level
// CMakeLists.txt; docs/config.md, "Control-block allocator"):
//   mimalloc  (default) mi_malloc / mi_free from libmimalloc, found and linked at configure time (a
//             missing mimalloc is a configure error). Blocks freed on another thread go back to the
//             allocating thread's mimalloc heap without a lock.
//   system    operator new/delete (sanitizer builds: ASan and TSan see every block).
#include <new>

#include "detail/runtime_impl.hpp"

#if defined(SPINDLE_ALLOC_MIMALLOC)
#include <mimalloc.h>
#endif

namespace spindle::detail {

#if defined(SPINDLE_ALLOC_MIMALLOC)

void* cb_alloc(std::size_t size) {
  void* p = mi_malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void cb_free(void* p) noexcept {
  mi_free(p);
}
const char* cb_allocator_name() noexcept {
  return "mimalloc";
}

#else

void* cb_alloc(std::size_t size) {
  return ::operator new(size);
}
void cb_free(void* p) noexcept {
  ::operator delete(p);
}
const char* cb_allocator_name() noexcept {
  return "system";
}

#endif

}  // namespace spindle::detail
