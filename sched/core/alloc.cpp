// Allocation of task control blocks: mimalloc, chosen at build time (SPINDLE_ALLOCATOR).
//   mimalloc-local    (default) libmimalloc.so.2 is loaded with dlopen(RTLD_LOCAL) and only its
//   mi_malloc /
//                     mi_free are used: runtime objects come from mimalloc, the process's malloc is
//                     left alone. If the library cannot be loaded, the system allocator is used and
//                     stats say so.
//   mimalloc-override the executable links libmimalloc, which replaces malloc for the whole
//   process. system            operator new/delete (sanitizer builds: ASan and TSan see every
//   block).
#include <cstdlib>
#include <new>

#include "detail/runtime_impl.hpp"

#if defined(SPINDLE_ALLOC_MIMALLOC_LOCAL)
#include <dlfcn.h>
#elif defined(SPINDLE_ALLOC_MIMALLOC)
#include <mimalloc.h>
#endif

namespace spindle::detail {

#if defined(SPINDLE_ALLOC_MIMALLOC_LOCAL)

namespace {
struct MiFunctions {
  void* (*malloc_fn)(std::size_t) = nullptr;
  void (*free_fn)(void*) = nullptr;
  const char* name = "system (libmimalloc.so.2 not found)";

  MiFunctions() {
    void* h = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return;
    auto m = reinterpret_cast<void* (*)(std::size_t)>(dlsym(h, "mi_malloc"));
    auto f = reinterpret_cast<void (*)(void*)>(dlsym(h, "mi_free"));
    if (m == nullptr || f == nullptr) return;
    malloc_fn = m;
    free_fn = f;
    name = "mimalloc-local";
  }
};

const MiFunctions& mi() {
  static const MiFunctions fns;
  return fns;
}
}  // namespace

void* cb_alloc(std::size_t size) {
  const MiFunctions& m = mi();
  void* p = m.malloc_fn != nullptr ? m.malloc_fn(size) : std::malloc(size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void cb_free(void* p) noexcept {
  const MiFunctions& m = mi();
  if (m.free_fn != nullptr) {
    m.free_fn(p);
  } else {
    std::free(p);
  }
}

const char* cb_allocator_name() noexcept {
  return mi().name;
}

#elif defined(SPINDLE_ALLOC_MIMALLOC)

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
