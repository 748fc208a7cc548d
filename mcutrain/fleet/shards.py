"""Partitions of a training set among clients, reproducible from a seed.

`iid_shards`: a PCG64 permutation (seed) cut into near-equal parts. `dirichlet_shards`: for
each class, the class's samples (in a seeded permutation) are cut among the clients in
proportions drawn from Dirichlet(alpha, ..., alpha) (small alpha: each client sees few
classes; large alpha: close to IID). Each shard is returned sorted by sample index.
"""

from __future__ import annotations

import numpy as np

from ..errors import McutrainError

#: Dirichlet draws tried before giving up on giving every client `min_size` samples.
MAX_DRAWS = 100


class ShardError(McutrainError):
    exit_code = 2


def _check(n_samples: int, n_clients: int) -> None:
    if n_clients < 1:
        raise ShardError(f"{n_clients} clients: give at least 1")
    if n_samples < n_clients:
        raise ShardError(f"{n_samples} training samples cannot be shared among {n_clients} clients: "
                         "use more samples (data.train_samples) or fewer clients")


def iid_shards(n_samples: int, n_clients: int, seed: int) -> list[np.ndarray]:
    """Client k gets part k of a permutation of range(n_samples) drawn from PCG64([seed, 0x11D])."""
    _check(n_samples, n_clients)
    perm = np.random.default_rng([seed, 0x11D]).permutation(n_samples)
    return [np.sort(part) for part in np.array_split(perm, n_clients)]


def dirichlet_shards(labels: np.ndarray, n_clients: int, alpha: float, seed: int,
                     min_size: int = 1) -> list[np.ndarray]:
    """Non-IID by label: per class, Dirichlet(alpha) proportions among the clients.

    Draws from PCG64([seed, 0xD1]) are repeated (at most MAX_DRAWS times) until every client holds at
    least `min_size` samples."""
    labels = np.asarray(labels)
    _check(len(labels), n_clients)
    if not alpha > 0:
        raise ShardError(f"Dirichlet alpha {alpha}: it must be > 0 (0.1 very skewed, 100 nearly IID)")
    if min_size * n_clients > len(labels):
        raise ShardError(f"{n_clients} clients x min_size {min_size} exceed the {len(labels)} samples")
    rng = np.random.default_rng([seed, 0xD1])
    classes = np.unique(labels)
    for _ in range(MAX_DRAWS):
        parts: list[list[np.ndarray]] = [[] for _ in range(n_clients)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            p = rng.dirichlet(np.full(n_clients, float(alpha)))
            cuts = np.floor(np.cumsum(p)[:-1] * len(idx)).astype(np.int64)
            for k, piece in enumerate(np.split(idx, cuts)):
                parts[k].append(piece)
        shards = [np.sort(np.concatenate(p)) for p in parts]
        if min(len(s) for s in shards) >= min_size:
            return shards
    raise ShardError(f"no Dirichlet(alpha={alpha}) draw in {MAX_DRAWS} gave each of {n_clients} clients "
                     f"{min_size}+ samples: raise alpha, lower the client count or use more samples")


def make_shards(labels: np.ndarray, n_clients: int, *, split: str, seed: int, alpha: float = 0.5,
                min_size: int = 1) -> list[np.ndarray]:
    """split = "iid" or "dirichlet" (non-IID by label with `alpha`)."""
    if split == "iid":
        return iid_shards(len(labels), n_clients, seed)
    if split == "dirichlet":
        return dirichlet_shards(labels, n_clients, alpha, seed, min_size)
    raise ShardError(f"unknown split {split!r}: use iid or dirichlet")
