"""mcutrain-arm: project-local PlatformIO platform (no registry packages).

The compiler (arm-none-eabi-gcc) and the emulator (qemu-system-arm) come from
PATH; see builder/main.py. ``is_embedded()`` stays False on purpose: then
``pio test`` builds without an "upload" step and runs the
``test_testing_command`` (QEMU) instead.
"""

from platformio.public import PlatformBase


class McutrainarmPlatform(PlatformBase):
    pass
