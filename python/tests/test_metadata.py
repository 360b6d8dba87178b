"""CheckpointManager.metadata(): Orbax-shaped StepMetadata and RootMetadata.

From Orbax's checkpoint/orbax/checkpoint/checkpoint_manager.py
(metadata(), _maybe_save_root_metadata, _get_root_metadata),
_src/metadata/checkpoint.py (StepMetadata, RootMetadata) and
checkpoint_manager_test.py's root-metadata tests (saved once, never
overwritten by a later manager, read back by a new one), as summarised in
orbax-semantics.md section 4 ("metadata(step=None)") and section 2
(save_root_metadata).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ckptdb as ocp


def _save(mngr, step, **kwargs):
  mngr.save(step, args=ocp.args.StandardSave({'w': np.arange(4.0)}), **kwargs)
  mngr.wait_until_finished()


def test_step_metadata_has_orbax_fields(tmp_path):
  """StepMetadata(item_handlers, item_metadata, metrics,
  performance_metrics, init_timestamp_nsecs, commit_timestamp_nsecs,
  custom_metadata): item_metadata as item_metadata(step), metrics and
  custom_metadata {} when none were given."""
  with ocp.CheckpointManager(tmp_path / 'm') as mngr:
    _save(mngr, 0, metrics={'loss': 0.5}, custom_metadata={'run': 'a'})
    _save(mngr, 1)
    m0, m1 = mngr.metadata(0), mngr.metadata(1)
    assert isinstance(m0, ocp.StepMetadata)
    assert m0.item_handlers == 'ckptdb.StandardCheckpointHandler'
    assert m0.item_metadata['w'].shape == (4,)
    assert m0.item_metadata['w'].dtype == np.float64
    assert m0.metrics == {'loss': 0.5} and m1.metrics == {}
    assert m0.custom_metadata == {'run': 'a'} and m1.custom_metadata == {}
    assert m0.init_timestamp_nsecs > 0
    assert m0.commit_timestamp_nsecs >= m0.init_timestamp_nsecs
    perf = m0.performance_metrics
    assert perf.step == 0 and perf.event_type == 'save'
    assert perf.directory == str(tmp_path / 'm')
    assert perf.logical_bytes == 32 == m0.logical_bytes
    # ckptdb's own fields stay.
    assert m0.step == 0 and m0.name == '0' and m0.item_names == ['default']


def test_step_metadata_of_several_items(tmp_path):
  """In multi-item mode item_metadata is per item (Orbax's
  CompositeItemMetadata) and item_handlers maps names to handlers."""
  with ocp.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ocp.args.Composite(
        state=ocp.args.StandardSave({'w': np.ones(2)}),
        extra=ocp.args.JsonSave({'k': 1})))
    mngr.wait_until_finished()
    meta = mngr.metadata(0)
    assert meta.item_metadata['state']['w'].shape == (2,)
    assert meta.item_metadata.extra == {'k': 1}
    assert meta.item_handlers == {
        'state': 'ckptdb.StandardCheckpointHandler',
        'extra': 'ckptdb.JsonCheckpointHandler'}
  # A new manager does not know the handlers (Orbax reads them from the
  # step's _CHECKPOINT_METADATA; ckptdb does not store them).
  with ocp.CheckpointManager(tmp_path / 'm') as mngr:
    assert mngr.metadata(0).item_handlers is None
    assert mngr.metadata(0).item_metadata['state']['w'].shape == (2,)


def test_root_metadata_is_persisted_and_never_overwritten(tmp_path):
  """checkpoint_manager_test: CheckpointManager(metadata=...) is written
  once; a later manager with other metadata reads the first one; a
  manager of a directory without any has RootMetadata(custom_metadata={})."""
  d = tmp_path / 'm'
  with ocp.CheckpointManager(d) as mngr:
    assert mngr.metadata() == ocp.RootMetadata(custom_metadata={})
    assert mngr.metadata().custom_metadata == {}
  with ocp.CheckpointManager(d, metadata={'run': 'first', 'lr': [1, 2]}) as mngr:
    _save(mngr, 0)
    assert mngr.metadata().custom_metadata == {'run': 'first', 'lr': [1, 2]}
  with ocp.CheckpointManager(d, metadata={'run': 'second'}) as mngr:
    assert mngr.metadata().custom_metadata == {'run': 'first', 'lr': [1, 2]}
    assert mngr.all_steps() == [0]
  with ocp.CheckpointManager(d) as mngr:
    assert mngr.metadata().custom_metadata == {'run': 'first', 'lr': [1, 2]}
  opts = ocp.CheckpointManagerOptions(read_only=True)
  with ocp.CheckpointManager(d, options=opts) as mngr:
    assert mngr.metadata().custom_metadata['run'] == 'first'


def test_root_metadata_seen_by_another_process(tmp_path):
  """The root metadata is in the database: a manager in another process
  (here a fresh interpreter) reads it."""
  d = tmp_path / 'm'
  with ocp.CheckpointManager(d, metadata={'experiment': 'x', 'n': 3}) as m:
    _save(m, 0)
  code = ('import json, sys, ckptdb\n'
          'with ckptdb.CheckpointManager(sys.argv[1]) as m:\n'
          '  print(json.dumps(m.metadata().custom_metadata))\n')
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  out = subprocess.run([sys.executable, '-c', code, str(d)], env=env,
                       capture_output=True, text=True, check=True, timeout=120)
  assert json.loads(out.stdout) == {'experiment': 'x', 'n': 3}


def test_read_only_manager_without_stored_metadata(tmp_path):
  """Orbax: a read-only manager of a directory without root metadata
  returns its own `metadata` argument (not stored)."""
  d = tmp_path / 'm'
  with ocp.CheckpointManager(d) as mngr:
    _save(mngr, 0)
  opts = ocp.CheckpointManagerOptions(read_only=True)
  with ocp.CheckpointManager(d, options=opts, metadata={'a': 1}) as mngr:
    assert mngr.metadata().custom_metadata == {'a': 1}
  with ocp.CheckpointManager(d) as mngr:
    assert mngr.metadata().custom_metadata == {}


def test_save_root_metadata_false_and_non_json(tmp_path):
  """save_root_metadata=False stores nothing; metadata that JSON cannot
  hold is a TypeError (Orbax serializes it as JSON)."""
  d = tmp_path / 'm'
  opts = ocp.CheckpointManagerOptions(save_root_metadata=False)
  with ocp.CheckpointManager(d, options=opts, metadata={'a': 1}) as mngr:
    _save(mngr, 0)
  with ocp.CheckpointManager(d) as mngr:
    assert mngr.metadata().custom_metadata == {}
  with pytest.raises(TypeError):
    ocp.CheckpointManager(tmp_path / 'n', metadata={'a': np.ones(2)})


def test_root_metadata_leaves_the_step_store_alone(tmp_path):
  """The root metadata lives beside the steps: retention, listing and the
  checkpoint iterator see only steps."""
  d = tmp_path / 'm'
  opts = ocp.CheckpointManagerOptions(max_to_keep=1)
  with ocp.CheckpointManager(d, options=opts, metadata={'a': 1}) as mngr:
    for step in range(3):
      _save(mngr, step)
    assert mngr.all_steps() == [2]
  assert list(ocp.checkpoint_utils.checkpoints_iterator(d, timeout=0)) == [2]
  with ocp.CheckpointManager(d) as mngr:
    assert mngr.metadata().custom_metadata == {'a': 1}
