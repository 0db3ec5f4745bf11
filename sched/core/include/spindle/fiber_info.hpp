// spindle/fiber_info.hpp: FiberInfo, one live fiber as AsyncRuntime::fibers() lists it.
#pragma once

#include <string>

#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

// FiberInfo describes one live fiber (a task started and not yet finished) at the moment of the
// listing: its id, the name it gave itself (this_fiber::set_name, empty if none), its state
// (Running or Waiting; Pending for an instant as it starts) and its priority.
struct FiberInfo {
  TaskId id;
  std::string name;
  TaskState state = TaskState::Pending;
  TaskPriority priority = TaskPriority::Normal;
};

}  // namespace spindle

SPINDLE_API_END
