// spindle/fiber/unpooled_stack.hpp: one guarded fiber stack of any size, outside a StackPool (for
// fibers spawned with a custom stack size).
#pragma once

#include <cstddef>

#include "spindle/fiber/stack_pool.hpp"

namespace spindle::fiber {

// map_unpooled_stack maps one stack of `size` usable bytes (rounded up to the page size) with
// MAP_NORESERVE | MAP_STACK (only touched pages cost memory) and a one-page guard below it
// (mprotect(PROT_NONE): the guard costs one extra mapping). The guard faults like a pooled stack's,
// so an overflow is reported the same way. Throws std::system_error (naming the size) when the
// mapping or the guard fails. Never blocks.
Stack map_unpooled_stack(std::size_t size);
// unpooled_guard_size returns the guard size map_unpooled_stack puts below each stack (one page).
std::size_t unpooled_guard_size() noexcept;
// unmap_unpooled_stack unmaps a stack from map_unpooled_stack, guard included. A null stack is
// ignored. Never throws.
void unmap_unpooled_stack(Stack stack) noexcept;

}  // namespace spindle::fiber
