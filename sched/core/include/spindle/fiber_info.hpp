/// @file
/// spindle/fiber_info.hpp: FiberInfo, one live fiber as AsyncRuntime::fibers() lists it.
#pragma once

#include <string>

#include "spindle/task.hpp"

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// FiberInfo describes one live fiber (a task started and not yet finished) at the moment of the
/// listing: its id, the name it gave itself (this_fiber::set_name, empty if none), its state
/// (Running or Waiting; Pending for an instant as it starts) and its priority.
struct FiberInfo {
  /// id is the fiber's task id.
  TaskId id;
  /// name is the name it gave itself (this_fiber::set_name), empty if none.
  std::string name;
  /// state is Running or Waiting (Pending for an instant as it starts).
  TaskState state = TaskState::Pending;
  /// priority is the task's priority.
  TaskPriority priority = TaskPriority::Normal;
};

}  // namespace spindle

SPINDLE_API_END
