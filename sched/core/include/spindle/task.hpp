/// @file
/// spindle/task.hpp: task vocabulary shared by the whole API: priorities, states, ids,
/// cancellation.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <ostream>

#include "spindle/detail/export.hpp"

SPINDLE_API_BEGIN

namespace spindle {

/// TaskPriority orders ready fibers. A worker always runs the highest-priority ready fiber it can
/// see, except that a bounded share of decisions goes to lower levels so that none starves (see
/// docs/scheduler.md: a level with ready fibers gets a turn at least once every 24 scheduling
/// decisions of a worker).
enum class TaskPriority : std::uint8_t { Low = 0, Normal = 1, High = 2, Critical = 3 };

/// kTaskPriorityLevels is the number of TaskPriority values.
inline constexpr int kTaskPriorityLevels = 4;

/// TaskState is where a task is in its life. Pending: spawned, not started. Running: started and
/// runnable (running or queued). Waiting: parked in a blocking call (sleep, join, ...). Completed:
/// returned normally. Cancelled: ended by cancellation (never started, or Cancelled propagated out
/// of it). Failed: ended by any other exception.
enum class TaskState : std::uint8_t { Pending, Running, Waiting, Completed, Cancelled, Failed };

/// to_string returns the name of a priority ("Low", ...).
const char* to_string(TaskPriority p) noexcept;
/// to_string returns the name of a state ("Pending", ...).
const char* to_string(TaskState s) noexcept;

/// TaskId identifies a task for the life of its runtime. Ids start at 1 and are unique per runtime;
/// a default-constructed TaskId (value 0) means "no task".
struct TaskId {
  /// value is the id's number; 0 means "no task".
  std::uint64_t value = 0;

  /// valid says whether this id names a task (value != 0).
  constexpr bool valid() const noexcept { return value != 0; }
  /// Ids compare by value; operator<< writes the value.
  ///@{
  friend constexpr bool operator==(TaskId, TaskId) = default;
  friend constexpr auto operator<=>(TaskId, TaskId) = default;
  friend std::ostream& operator<<(std::ostream& os, TaskId id) { return os << id.value; }
  ///@}
};

/// Cancelled is thrown at a fiber's blocking points (sleep_for, yield is not one, join, ...) once
/// its task has been cancelled, and rethrown by JoinHandle::join() of a cancelled task. Catching it
/// and returning normally ends the task as Completed: cancellation is a request, not an abort.
class Cancelled : public std::exception {
 public:
  /// what returns "spindle: task cancelled".
  const char* what() const noexcept override;
};

}  // namespace spindle

/// std::hash<spindle::TaskId> lets ids key unordered containers.
template <>
struct std::hash<spindle::TaskId> {
  /// operator() hashes the id's value.
  std::size_t operator()(spindle::TaskId id) const noexcept {
    return std::hash<std::uint64_t>{}(id.value);
  }
};

SPINDLE_API_END
