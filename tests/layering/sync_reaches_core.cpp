// A library source that reaches into the scheduler's private struct. Built only by the
// Layering.* tests, which expect the build to fail: sched/sync and sched/io use the scheduler
// through spindle/detail/sched_hooks.hpp only.
#include "detail/runtime_impl.hpp"

int spindle_layering_probe() {
  return 0;
}
