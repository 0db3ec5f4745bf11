// One guarded stack outside any pool: spindle/fiber/unpooled_stack.hpp.
#include "spindle/fiber/unpooled_stack.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>

#include <sanitizer/asan_interface.h>

namespace spindle::fiber {

std::size_t unpooled_guard_size() noexcept {
  return static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

Stack map_unpooled_stack(std::size_t size) {
  const std::size_t page = unpooled_guard_size();
  const std::size_t usable = (size + page - 1) / page * page;
  void* mem = ::mmap(nullptr, usable + page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (mem == MAP_FAILED) {
    throw std::system_error(errno, std::generic_category(),
                            "spindle: mapping a fiber stack of " + std::to_string(usable) +
                                " bytes (SpawnOptions::stack_size) failed");
  }
  if (::mprotect(mem, page, PROT_NONE) != 0) {
    const int err = errno;
    ::munmap(mem, usable + page);
    throw std::system_error(err, std::generic_category(),
                            "spindle: guarding a fiber stack of " + std::to_string(usable) +
                                " bytes (SpawnOptions::stack_size) failed (mprotect; see "
                                "vm.max_map_count)");
  }
  return Stack{static_cast<char*>(mem) + page, usable};
}

void unmap_unpooled_stack(Stack stack) noexcept {
  if (!stack) return;
  const std::size_t page = unpooled_guard_size();
  // The finished fiber may leave poisoned frames behind; the next mapping at this address must
  // start clean (as StackPool::release does for pooled stacks).
  ASAN_UNPOISON_MEMORY_REGION(stack.limit, stack.size);
  ::munmap(static_cast<char*>(stack.limit) - page, stack.size + page);
}

}  // namespace spindle::fiber
