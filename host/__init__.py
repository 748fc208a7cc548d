"""Host side of the serial link (installed as ``mcutrain.host``).

- :mod:`.framing`  COBS + CRC-16 frames, mirrors ``firmware/core/link.c``
- :mod:`.messages` protocol v1 messages (``docs/protocol.md``)
- :mod:`.link`     :class:`DeviceLink` over a serial port, socket URL or pipe
- :mod:`.stream`   :class:`Streamer`, pipelined `T`/`E` frames
- :mod:`.emulator` :class:`Emulator`, QEMU that is always ended
"""

from .emulator import Emulator
from .framing import FrameDecoder, FrameError, cobs_decode, cobs_encode, crc16, decode_frame, encode_frame
from .link import DeviceLink, DeviceReportedError, PipeTransport, SerialTransport
from .stream import Streamer, StreamResult

__all__ = [
    "DeviceLink",
    "DeviceReportedError",
    "Emulator",
    "FrameDecoder",
    "FrameError",
    "PipeTransport",
    "SerialTransport",
    "StreamResult",
    "Streamer",
    "cobs_decode",
    "cobs_encode",
    "crc16",
    "decode_frame",
    "encode_frame",
]
