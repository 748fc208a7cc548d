/* Start-up code for the TI Stellaris LM3S6965 (Cortex-M3; QEMU machine
 * lm3s6965evb): the vector table; Reset_Handler and the fault handlers are the
 * shared ones (../common/mt_startup.h). */
#include "../common/mt_startup.h"

/* No interrupt is enabled; all 48 peripheral vectors go to Default_Handler. */
__attribute__((section(".isr_vector"), used))
const struct {
    MT_VECTOR_TABLE_FIELDS(48u);
} mt_vector_table = {
    MT_SYSTEM_VECTORS,
    {MT_REPEAT_32(Default_Handler), MT_REPEAT_16(Default_Handler)},
};
