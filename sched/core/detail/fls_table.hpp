// sched/core/detail/fls_table.hpp (internal): the fiber-local values of one fiber (or of one OS
// thread outside fibers), indexed by FlsKey::index.
#pragma once

#include <cstdint>
#include <vector>

namespace spindle::detail {

struct TaskCore;

// FlsTable maps key indexes to values; an entry counts only for its key's generation.
struct FlsTable {
  struct Entry {
    std::uint32_t generation = 0;
    void* value = nullptr;
    void (*destroy)(void*) = nullptr;
  };
  std::vector<Entry> entries;

  // destroy_all destroys every value (values created by destructors too, for a few rounds).
  void destroy_all() noexcept;
};

// fls_destroy_task destroys a fiber's values and its table; runs on the fiber's own stack when it
// ends.
void fls_destroy_task(TaskCore* t) noexcept;

}  // namespace spindle::detail
