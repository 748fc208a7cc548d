/* Start-up code for the BBC micro:bit v1 (Nordic nRF51822, Cortex-M0; QEMU
 * machine microbit): the vector table; Reset_Handler and the fault handlers
 * are the shared ones (../common/mt_startup.h). */
#include "../common/mt_startup.h"

/* No interrupt is enabled; all 32 peripheral vectors go to Default_Handler. */
__attribute__((section(".isr_vector"), used))
const struct {
    MT_VECTOR_TABLE_FIELDS(32u);
} mt_vector_table = {
    MT_SYSTEM_VECTORS,
    {MT_REPEAT_32(Default_Handler)},
};
