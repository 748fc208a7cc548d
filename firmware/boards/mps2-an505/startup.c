/* Start-up code for the Arm MPS2+ AN505 FPGA image (Cortex-M33 IoT Kit; QEMU
 * machine mps2-an505): the vector table; Reset_Handler and the fault handlers
 * are the shared ones (../common/mt_startup.h).
 *
 * The core resets in the Secure state with the Secure VTOR at 0x10000000
 * (the start of code SSRAM1, where the linker script puts this table) and the
 * firmware stays Secure: no SAU set-up, no Non-secure image. */
#include "../common/mt_startup.h"

/* No interrupt is ever taken; all 124 peripheral vectors (32 of the IoT Kit,
 * 92 of the AN505 expansion) go to Default_Handler, so a stray one is caught. */
__attribute__((section(".isr_vector"), used))
const struct {
    MT_VECTOR_TABLE_FIELDS(124u);
} mt_vector_table = {
    MT_SYSTEM_VECTORS,
    {MT_REPEAT_64(Default_Handler), MT_REPEAT_32(Default_Handler), MT_REPEAT_16(Default_Handler),
     MT_REPEAT_8(Default_Handler), MT_REPEAT_4(Default_Handler)},
};
