// The port's SysTick handler (left out with SPINDLE_CM_OWN_SYSTICK_HANDLER=1).
#include "internal.h"

#if !SPINDLE_CM_OWN_SYSTICK_HANDLER
// SysTick_Handler: advances the tick (tick_isr). Exception handler only.
extern "C" void SysTick_Handler() {
  spindle::cm::tick_isr();
}
#endif
