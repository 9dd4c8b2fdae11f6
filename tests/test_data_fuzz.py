"""Fuzz the IDX and CIFAR pickle readers: random, truncated and mutated bytes may only ever
give back data or a DatasetError, never another exception."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnzoo.data.cifar import parse_batch
from cnnzoo.data.idx import parse_idx, read_idx
from cnnzoo.errors import DatasetError
from tests.data_fakes import cifar_batch_bytes, cifar_batch_bytes_py2, idx_bytes

# 150 examples per test keeps CI fast; CNNZOO_FUZZ_EXAMPLES=3000 for a long local run.
FUZZ = settings(max_examples=int(os.environ.get("CNNZOO_FUZZ_EXAMPLES", 150)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

_RNG = np.random.default_rng(0)
VALID_IDX = idx_bytes(_RNG.integers(0, 256, (3, 5, 4), dtype=np.uint8))
VALID_PICKLE = cifar_batch_bytes(_RNG.integers(0, 256, (2, 3072), dtype=np.uint8), [3, 7])
VALID_PY2 = cifar_batch_bytes_py2(_RNG.integers(0, 256, (2, 3072), dtype=np.uint8), [3, 7])


def _idx_outcome(data: bytes) -> np.ndarray | None:
    try:
        return parse_idx(data, "fuzz.idx", 3)
    except DatasetError as e:
        assert str(e).startswith("fuzz.idx: ")
        return None


def _batch_outcome(data: bytes) -> tuple | None:
    try:
        return parse_batch(data, "fuzz_batch", "labels", 10)
    except DatasetError as e:
        assert str(e).startswith("fuzz_batch: ")
        return None


@FUZZ
@given(st.binary(max_size=300))
def test_idx_random_bytes(data: bytes) -> None:
    out = _idx_outcome(data)
    if out is not None:  # only a self-consistent file can parse
        assert out.dtype == np.uint8 and out.ndim == 3 and len(data) == 16 + out.size


@FUZZ
@given(st.integers(0, len(VALID_IDX) - 1))
def test_idx_truncated_anywhere_is_an_error(cut: int) -> None:
    assert _idx_outcome(VALID_IDX[:cut]) is None


@FUZZ
@given(st.binary(max_size=200), st.integers(0, 60))
def test_gzip_random_and_truncated(tmp_path: Path, data: bytes, cut: int) -> None:
    path = tmp_path / "blob.gz"  # rewritten by each example: the reader sees a real file
    for blob in (b"\x1f\x8b" + data, gzip.compress(VALID_IDX)[:cut]):
        path.write_bytes(blob)
        try:
            read_idx(path, 3)
        except DatasetError as e:
            assert str(path) in str(e)


@FUZZ
@given(st.binary(max_size=400))
def test_pickle_random_bytes(data: bytes) -> None:
    _batch_outcome(data)


@FUZZ
@given(st.integers(0, len(VALID_PICKLE) - 1))
def test_pickle_truncated_anywhere_is_an_error(cut: int) -> None:
    assert _batch_outcome(VALID_PICKLE[:cut]) is None
    assert _batch_outcome(VALID_PY2[:cut % len(VALID_PY2)]) is None


@FUZZ
@given(st.sampled_from([VALID_PICKLE, VALID_PY2]), st.lists(
    st.tuples(st.integers(0, len(VALID_PY2) - 1), st.integers(0, 255)), min_size=1, max_size=4))
def test_pickle_mutated_bytes(valid: bytes, changes: list[tuple[int, int]]) -> None:
    data = bytearray(valid)
    for pos, value in changes:
        data[pos % len(data)] = value
    out = _batch_outcome(bytes(data))
    if out is not None:  # a mutation that still parses must still be a valid batch
        images, labels = out
        assert images.shape[1:] == (3, 32, 32) and images.dtype == np.uint8
        assert len(labels) == len(images) and labels.min() >= 0 and labels.max() < 10

