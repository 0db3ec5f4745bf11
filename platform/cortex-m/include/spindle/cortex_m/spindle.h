// Umbrella header of the Spindle Cortex-M port: fibers, executor, ticks, interrupt waits, panic.
#pragma once

#include "spindle/cortex_m/config.h"
#include "spindle/cortex_m/executor.h"
#include "spindle/cortex_m/fiber.h"
#include "spindle/cortex_m/irq_wait.h"
#include "spindle/cortex_m/panic.h"
#include "spindle/cortex_m/ticks.h"
