"""Protocol v2 messages (host/messages.py): encode/decode round trips and errors."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcutrain.host import messages as m

from mcutrain.errors import McutrainError, ProtocolError

u32 = st.integers(0, 2**32 - 1)
u16 = st.integers(0, 2**16 - 1)
u8 = st.integers(0, 255)

messages = st.one_of(
    st.just(m.Hello()),
    st.builds(m.Start, u32, u32, u16, u32),
    st.builds(m.Train, u16, u8, st.binary(max_size=251)),
    st.builds(m.Eval, u16, st.binary(max_size=252)),
    st.builds(m.Flush, u8),
    st.just(m.Weights()),
    st.builds(m.Weights, u32, u8),
    st.builds(m.Upload, u32, st.binary(min_size=1, max_size=192)),
    st.builds(m.Restore, u32, u32, u32, u32, st.binary(min_size=16, max_size=16)),
    st.builds(m.CheckpointRecord, u32, u32, u32, u32, st.binary(min_size=16, max_size=16)),
    st.builds(m.Nak, u32),
    st.builds(m.UploadAck, u32, u8),
    st.builds(m.Info, u8, st.text("0123456789abcdef", min_size=16, max_size=16), u16, u8, u32,
              st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)),
    st.builds(m.Ack, u32, u8),
    st.builds(m.Progress, u32, u32, u32),
    st.builds(m.Digest, u32, u32, u32),
    st.builds(m.Predictions, u32, st.binary(max_size=64)),
    st.builds(m.WeightChunk, u32, st.binary(max_size=192)),
    st.builds(m.Error, u8, st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40)),
)


@settings(deadline=None)
@given(messages)
def test_round_trip(msg):
    payload = m.encode(msg)
    assert payload[:1] == msg.TYPE
    assert m.decode(payload) == msg


def test_wire_layouts():
    assert m.encode(m.Start(1, 2, 3, 4)) == b"S\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x04\x00\x00\x00"
    assert m.encode(m.Train(0x0102, 7, b"\xaa\xbb")) == b"T\x02\x01\x07\xaa\xbb"
    assert m.encode(m.Train(0x10002, 7, b"")) == b"T\x02\x00\x07"  # seq is frames_done mod 2^16
    assert m.encode(m.Ack(0x01020304, 9)) == b"A\x04\x03\x02\x01\x09"
    assert m.encode(m.Nak(5)) == b"N\x05\x00\x00\x00"
    assert m.encode(m.Flush(3)) == b"F\x03"
    assert m.encode(m.Weights(0x100, 2)) == b"W\x00\x01\x00\x00\x02"
    assert m.encode(m.Progress(64, 5, 2)) == b"P\x40\x00\x00\x00\x05\x00\x00\x00\x02\x00\x00\x00"
    assert m.encode(m.Predictions(3, b"\x01\x02")) == b"R\x03\x00\x00\x00\x02\x01\x02"
    info = m.Info(2, "0123456789abcdef", 98, 10, 1000, "qemu")
    assert m.encode(info) == (b"I\x02" + b"0123456789abcdef" + b"\x62\x00" + b"\x0a" + b"\xe8\x03\x00\x00"
                              + b"\x04qemu")
    assert m.train_payload(7, b"\xaa\xbb", 300) == m.encode(m.Train(300, 7, b"\xaa\xbb"))
    assert m.eval_payload(b"\x01", 5) == m.encode(m.Eval(5, b"\x01"))
    assert m.with_seq(m.train_payload(7, b"\xaa"), 0x1234) == m.encode(m.Train(0x1234, 7, b"\xaa"))


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"", "empty"),
        (b"Z", "unknown message type 0x5a"),
        (b"A\x01\x02", "needs a body of 5 bytes, got 2"),
        (b"D" + bytes(13), "needs a body of 12 bytes, got 13"),
        (b"I" + bytes(10), "at least 25"),
        (b"I" + bytes(24) + b"\x05ab", "needs a body of 30 bytes"),
        (b"R\x00\x00\x00\x00\x03\x01", "needs a body of 8 bytes"),
        (b"w" + bytes(4 + 193), "at most 192"),
        (b"X", "at least 1"),
        (b"H\x00", "needs a body of 0 bytes"),
    ],
)
def test_bad_payloads(payload, words):
    with pytest.raises(ProtocolError, match=words) as e:
        m.decode(payload)
    assert isinstance(e.value, McutrainError) and e.value.exit_code == 7


def test_error_message_text():
    err = m.Error(m.ERR_NOT_STARTED, "not started")
    assert "5 (not started)" in str(err)
    assert "reset" in str(err)  # what it means, in words
