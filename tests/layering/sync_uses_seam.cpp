// The control for the Layering.* tests: a library source using only the seam builds.
#include "spindle/detail/sched_hooks.hpp"
#include "spindle/detail/wait.hpp"

int spindle_layering_control() {
  return spindle::detail::spin_may_help() ? 1 : 0;
}
