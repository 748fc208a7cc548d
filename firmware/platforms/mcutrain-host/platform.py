"""mcutrain-host: project-local PlatformIO platform replacing ``native``.

Compiles with the system C compiler (``gcc`` from PATH, or option
``custom_cc``); the board support is ``firmware/boards/host`` (UART = stdio).
"""

from platformio.public import PlatformBase


class McutrainhostPlatform(PlatformBase):
    pass
