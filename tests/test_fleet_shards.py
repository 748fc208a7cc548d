"""Data shards of the fleet: partitions, reproducible from a seed, non-IID skew by alpha."""

from __future__ import annotations

import numpy as np
import pytest

from mcutrain.fleet.shards import ShardError, dirichlet_shards, iid_shards, make_shards

LABELS = np.random.default_rng(5).integers(0, 10, 3000)


def _is_partition(shards: list[np.ndarray], n: int) -> bool:
    allx = np.concatenate(shards)
    return len(allx) == n and np.array_equal(np.sort(allx), np.arange(n))


def _mean_classes_held(shards: list[np.ndarray], labels: np.ndarray, at_least: int = 10) -> float:
    """Mean number of classes of which a client holds `at_least` samples."""
    return float(np.mean([(np.bincount(labels[s], minlength=10) >= at_least).sum() for s in shards]))


@pytest.mark.parametrize("split", ["iid", "dirichlet"])
def test_partition_and_reproducible(split: str) -> None:
    a = make_shards(LABELS, 7, split=split, seed=11, alpha=0.3)
    b = make_shards(LABELS, 7, split=split, seed=11, alpha=0.3)
    c = make_shards(LABELS, 7, split=split, seed=12, alpha=0.3)
    assert _is_partition(a, len(LABELS))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))
    assert all(np.all(np.diff(s) > 0) for s in a)


def test_iid_sizes_equal_and_labels_mixed() -> None:
    shards = iid_shards(len(LABELS), 6, seed=1)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert _mean_classes_held(shards, LABELS) == 10


def test_dirichlet_small_alpha_is_skewed_large_alpha_is_not() -> None:
    skewed = dirichlet_shards(LABELS, 10, alpha=0.1, seed=2)
    mixed = dirichlet_shards(LABELS, 10, alpha=1000.0, seed=2)
    assert _mean_classes_held(skewed, LABELS) < 5
    assert _mean_classes_held(mixed, LABELS) == 10


def test_dirichlet_min_size_respected() -> None:
    shards = dirichlet_shards(LABELS, 20, alpha=0.2, seed=3, min_size=40)
    assert min(map(len, shards)) >= 40 and _is_partition(shards, len(LABELS))


@pytest.mark.parametrize(("call", "words"), [
    (lambda: iid_shards(3, 4, 0), "cannot be shared"),
    (lambda: dirichlet_shards(LABELS, 4, 0.0, 0), "alpha"),
    (lambda: dirichlet_shards(LABELS, 4, 0.5, 0, min_size=1000), "min_size"),
    (lambda: dirichlet_shards(LABELS[:40], 10, 0.01, 0, min_size=4), "raise alpha"),
    (lambda: make_shards(LABELS, 4, split="byclass", seed=0), "iid or dirichlet"),
])
def test_bad_requests_named(call, words: str) -> None:
    with pytest.raises(ShardError, match=words):
        call()
