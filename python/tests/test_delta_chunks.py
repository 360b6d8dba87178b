"""Delta and Compressed chunks through the Python API (StoreTuning)."""

import os

import numpy as np
import pytest

import ckptdb
from treeutil import assert_tree_equal


def _steps(n):
  """Weights of scale 0.02 after 0..n-1 updates of about 1e-4 each."""
  rng = np.random.default_rng(0)
  w = (rng.standard_normal(1 << 20) * 0.02).astype(np.float32)
  out = []
  for _ in range(n):
    out.append({'w': w.copy(), 'count': np.arange(1 << 16, dtype=np.int64)})
    w = w + (rng.standard_normal(w.size) * 1e-4).astype(np.float32)
  return out


def _dir_bytes(path):
  return sum(os.path.getsize(os.path.join(d, f))
             for d, _, files in os.walk(path) for f in files)


@pytest.mark.parametrize('delta', [True, False])
def test_training_steps_round_trip(tmp_path, delta):
  steps = _steps(4)
  tuning = ckptdb.StoreTuning(delta_chunks=delta, compress_chunks=delta)
  with ckptdb.CheckpointManager(
      tmp_path / 'db', options=ckptdb.CheckpointManagerOptions(
          enable_async_checkpointing=False, tuning=tuning)) as mgr:
    for i, state in enumerate(steps):
      mgr.save(i, args=ckptdb.args.StandardSave(state))
    for i, state in enumerate(steps):
      assert_tree_equal(mgr.restore(i), state)
  # Restore without a target from a fresh process view too.
  with ckptdb.CheckpointManager(
      tmp_path / 'db',
      options=ckptdb.CheckpointManagerOptions(tuning=tuning)) as mgr:
    assert_tree_equal(mgr.restore(3), steps[3])


def test_delta_chunks_store_less(tmp_path):
  steps = _steps(4)
  sizes = {}
  for delta in (True, False):
    path = tmp_path / str(delta)
    tuning = ckptdb.StoreTuning(delta_chunks=delta, compress_chunks=delta)
    with ckptdb.CheckpointManager(
        path, options=ckptdb.CheckpointManagerOptions(
            enable_async_checkpointing=False, tuning=tuning)) as mgr:
      for i, state in enumerate(steps):
        mgr.save(i, args=ckptdb.args.StandardSave(state))
    sizes[delta] = _dir_bytes(path)
  # Steps 1..3 (3 x 4.5 MiB) are stored as deltas of under 80%.
  assert sizes[True] < sizes[False] - 3 * (4 << 20) // 5, sizes


def test_unknown_tuning_option_is_refused(tmp_path):
  with pytest.raises(ValueError, match="unknown tuning option 'delta'"):
    ckptdb.PyTreeCheckpointer(tuning={'delta': True}).save(
        tmp_path / 'c', {'a': np.arange(3)})
