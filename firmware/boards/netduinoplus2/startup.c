/* Start-up code for the STM32F405 (Netduino Plus 2; QEMU machine netduinoplus2):
 * the vector table; Reset_Handler and the fault handlers are the shared ones
 * (../common/mt_startup.h). No heap, no C library start files. */
#include "../common/mt_startup.h"

/* The firmware enables no interrupt; all 82 peripheral vectors of the
 * STM32F405/407 point to Default_Handler, so a stray one is caught. */
__attribute__((section(".isr_vector"), used))
const struct {
    MT_VECTOR_TABLE_FIELDS(82u);
} mt_vector_table = {
    MT_SYSTEM_VECTORS,
    {MT_REPEAT_64(Default_Handler), MT_REPEAT_16(Default_Handler), MT_REPEAT_2(Default_Handler)},
};
