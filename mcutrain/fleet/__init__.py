"""Federated training of a fleet of boards with Flower (issue 15).

shards: IID and Dirichlet non-IID partitions of a training set; layout: the state bytes as
arrays; aggregate: integer federated averaging (docs/arithmetic.md, section 10); wire: the
state as Flower parameters; backend: a round on a board (serial link) or on its twin;
client: the Flower client; strategy: the Flower strategy; sim: many clients in one process.
"""
