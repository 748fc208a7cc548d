"""The host side of the power-cut-safe state store (firmware/store/, docs/storage.md): a reader of its slot
format (``slots.py``, an implementation independent of the C) and the emulated board's power-cut runner
(``powercut.py``)."""
