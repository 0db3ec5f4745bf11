// spindle/spindle.hpp: the whole public API of Spindle.
#pragma once

#include "spindle/config.hpp"
#include "spindle/join_handle.hpp"
#include "spindle/runtime.hpp"
#include "spindle/stats.hpp"
#include "spindle/sys.h"
#include "spindle/task.hpp"
#include "spindle/this_fiber.hpp"
