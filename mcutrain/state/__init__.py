"""A model's trained state outside the device (issue 14).

file: the state file (versioned header, model hash, CRC-32, the device's state bytes and schedule words);
pretrain: the integer twin trained on the host into a state file; device: a state file sent to a board
before training (`mcutrain train --init`) and a board's state read back into one (`mcutrain export`).
The state bytes are described once, by mcutrain.fleet.layout.StateLayout.
"""
