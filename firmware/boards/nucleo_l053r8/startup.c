/* Start-up code for the STM32L053R8 (ST Nucleo-L053R8, Cortex-M0+, a real
 * board): the vector table; Reset_Handler and the fault handlers are the
 * shared ones (../common/mt_startup.h). */
#include "../common/mt_startup.h"

/* The firmware takes no interrupt; all 32 peripheral vectors of the
 * STM32L0x3 (RM0367: WWDG = 0 .. USB = 31) go to Default_Handler. */
__attribute__((section(".isr_vector"), used))
const struct {
    MT_VECTOR_TABLE_FIELDS(32u);
} mt_vector_table = {
    MT_SYSTEM_VECTORS,
    {MT_REPEAT_32(Default_Handler)},
};
