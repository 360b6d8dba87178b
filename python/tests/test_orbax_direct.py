"""Direct restore of Orbax checkpoints (read in place, not imported).

Over the real Orbax checkpoints in /work/shared/fixtures/real
(CKPTDB_FIXTURES overrides it): Orbax's compatibility checkpoints (v0
direct, v0/v1 composite, damaged copies), a training run's
CheckpointManager root (SAR2652__Polynomial-Expansion) and Orbax's
aggregate layout.
"""

import os
import shutil

import numpy as np
import pytest

import ckptdb

FIXTURES = os.environ.get('CKPTDB_FIXTURES', '/work/shared/fixtures/real')
COMPAT = os.path.join(FIXTURES, 'google__orbax', 'compatibility_checkpoints')
DIRECT = os.path.join(COMPAT, 'v0_checkpoints', 'direct_checkpoint',
                      'checkpoint_metadata_present',
                      'pytree_checkpointable_has_metadata')
V0_COMPOSITE = os.path.join(COMPAT, 'v0_checkpoints', 'composite_checkpoint',
                            'checkpoint_metadata_present',
                            'pytree_checkpointable_has_metadata')
V1_COMPOSITE = os.path.join(COMPAT, 'v1_checkpoints', 'composite_checkpoint',
                            'checkpoint_metadata_present',
                            'pytree_checkpointable_has_metadata')
DAMAGED = os.path.join(COMPAT, 'v0_checkpoints', 'direct_checkpoint',
                       'critical_metadata_alterations')
SAR_ROOT = os.path.join(FIXTURES, 'SAR2652__Polynomial-Expansion',
                        'checkpoints')
AGGREGATE = os.path.join(FIXTURES, 'google__orbax', 'aggregate_some.checkpoint')

pytestmark = pytest.mark.skipif(
    not (os.path.isdir(DIRECT) and os.path.isdir(SAR_ROOT)),
    reason=f'no Orbax fixtures at {FIXTURES}')

WANT = {'a': np.arange(8, dtype=np.int32),
        'b': {'c': np.array([1, 2, 3], dtype=np.int32)}}


def _assert_tree_equal(got, want):
  if isinstance(want, dict):
    assert isinstance(got, dict) and sorted(got) == sorted(want)
    for k in want:
      _assert_tree_equal(got[k], want[k])
  else:
    assert isinstance(got, np.ndarray)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def _copy(src, tmp_path):
  dst = tmp_path / os.path.basename(src)
  shutil.copytree(src, dst)
  return str(dst)


# ---- Checkpointer ---------------------------------------------------------


def test_restore_without_target():
  tree = ckptdb.StandardCheckpointer().restore(DIRECT)
  _assert_tree_equal(tree, WANT)
  tree = ckptdb.PyTreeCheckpointer().restore(DIRECT)
  _assert_tree_equal(tree, WANT)


def test_restore_with_target_takes_its_structure_and_dtypes():
  target = {'a': np.zeros(8, np.float32),
            'b': {'c': np.zeros(3, np.int64)}}
  got = ckptdb.StandardCheckpointer().restore(DIRECT, target)
  assert got['a'].dtype == np.float32 and got['b']['c'].dtype == np.int64
  np.testing.assert_array_equal(got['a'], np.arange(8))
  np.testing.assert_array_equal(got['b']['c'], [1, 2, 3])
  assert not target['a'].any()  # the target is left unchanged (Orbax)
  # Abstract leaves (ShapeDtypeStruct-like ArrayMetadata) too.
  meta = ckptdb.StandardCheckpointer().metadata(DIRECT).item_metadata
  assert meta['a'].shape == (8,) and meta['a'].dtype == np.int32
  got = ckptdb.StandardCheckpointer().restore(DIRECT, meta)
  _assert_tree_equal(got, WANT)


def test_restore_with_target_in_place():
  target = {'a': np.zeros(8, np.int32), 'b': {'c': np.zeros(3, np.int32)}}
  got = ckptdb.Checkpointer().restore(
      DIRECT, args=ckptdb.args.StandardRestore(target, in_place=True))
  assert got['a'] is target['a']
  np.testing.assert_array_equal(target['a'], np.arange(8))


def test_target_mismatch_names_the_leaf():
  with pytest.raises(ckptdb.InvalidArgumentError, match="'b/d'"):
    ckptdb.StandardCheckpointer().restore(
        DIRECT, {'a': np.zeros(8, np.int32), 'b': {'d': np.zeros(3)}})
  with pytest.raises(ValueError, match='partial_restore'):
    ckptdb.StandardCheckpointer().restore(DIRECT, {'a': np.zeros(8)})


def test_partial_restore_reads_only_the_requested_leaves(tmp_path):
  got = ckptdb.Checkpointer().restore(
      DIRECT, args=ckptdb.args.PyTreeRestore(
          {'b': {'c': np.zeros(3, np.int32)}}, partial_restore=True))
  assert list(got) == ['b']
  np.testing.assert_array_equal(got['b']['c'], [1, 2, 3])
  # PLACEHOLDER leaves are skipped.
  got = ckptdb.StandardCheckpointer().restore(
      DIRECT, {'a': ckptdb.PLACEHOLDER, 'b': {'c': np.zeros(3, np.int32)}})
  assert got['a'] is ckptdb.PLACEHOLDER
  # Every leaf a PLACEHOLDER: nothing is read but _METADATA and the tree.
  none = ckptdb.Checkpointer().restore(
      DIRECT, args=ckptdb.args.PyTreeRestore(
          {'a': ckptdb.PLACEHOLDER, 'b': {'c': ckptdb.PLACEHOLDER}}))
  assert none == {'a': ckptdb.PLACEHOLDER, 'b': {'c': ckptdb.PLACEHOLDER}}


def test_partial_restore_does_not_read_other_leaves(tmp_path):
  """A partial restore of one leaf of the aggregate layout (one zarr folder
  per leaf) works with the other leaf's folder gone: it is never read."""
  if not os.path.isdir(AGGREGATE):
    pytest.skip('no aggregate fixture')
  path = _copy(AGGREGATE, tmp_path)
  full = ckptdb.PyTreeCheckpointer().restore(AGGREGATE)
  shutil.rmtree(os.path.join(path, 'a'))
  part = ckptdb.Checkpointer().restore(
      path, args=ckptdb.args.PyTreeRestore({'b': full['b']},
                                           partial_restore=True))
  np.testing.assert_array_equal(part['b'], full['b'])
  with pytest.raises(ckptdb.Error, match="'a'|/a"):
    ckptdb.PyTreeCheckpointer().restore(path)


def test_restore_args_cast_without_target():
  got = ckptdb.Checkpointer().restore(
      DIRECT, args=ckptdb.args.PyTreeRestore(
          restore_args={'a': ckptdb.RestoreArgs(dtype=np.float64),
                        'b': {'c': ckptdb.RestoreArgs()}}))
  assert got['a'].dtype == np.float64
  assert got['b']['c'].dtype == np.int32


def test_composite_step_folder():
  for path in (V0_COMPOSITE, V1_COMPOSITE):
    ckptr = ckptdb.Checkpointer(ckptdb.CompositeCheckpointHandler())
    got = ckptr.restore(path)
    assert set(got) == {'metadata', 'state'}
    _assert_tree_equal(got['state'], WANT)
    got = ckptr.restore(path, args=ckptdb.args.Composite(
        state=ckptdb.args.StandardRestore({'a': np.zeros(8, np.int16),
                                           'b': {'c': np.zeros(3)}})))
    assert list(got) == ['state'] and got.state['a'].dtype == np.int16
    with pytest.raises(KeyError, match='nope'):
      ckptr.restore(path, args=ckptdb.args.Composite(
          nope=ckptdb.args.StandardRestore()))
  # A step folder of several items without Composite args: which one?
  with pytest.raises(ValueError, match='Composite'):
    ckptdb.StandardCheckpointer().restore(V1_COMPOSITE)


def test_step_metadata():
  m = ckptdb.StandardCheckpointer().metadata(DIRECT)
  assert m.custom_metadata == {'custom': 'meta'}
  assert m.commit_timestamp_nsecs == 1778718340783462133


@pytest.mark.skipif(not os.path.isdir(AGGREGATE), reason='no aggregate fixture')
def test_aggregate_layout():
  tree = ckptdb.PyTreeCheckpointer().restore(AGGREGATE)
  assert set(tree) >= {'a', 'b'}


def test_save_into_orbax_checkpoint_is_refused(tmp_path):
  path = _copy(DIRECT, tmp_path)
  before = sorted(os.listdir(path))
  for force in (False, True):
    with pytest.raises(ckptdb.FailedPreconditionError, match='ckptdb import'):
      ckptdb.StandardCheckpointer().save(path, {'x': np.ones(2)}, force=force)
  with ckptdb.AsyncCheckpointer(ckptdb.StandardCheckpointHandler()) as c:
    with pytest.raises(ckptdb.FailedPreconditionError, match='ckptdb import'):
      c.save(path, args=ckptdb.args.StandardSave({'x': np.ones(2)}))
  assert sorted(os.listdir(path)) == before


def test_damaged_checkpoints_name_the_file():
  bad = os.path.join(DAMAGED, 'missing_pytree_data_dir_d')
  with pytest.raises(ckptdb.CorruptionError,
                     match=f"missing data file '{bad}/d/"):
    ckptdb.StandardCheckpointer().restore(bad)
  bad = os.path.join(DAMAGED, 'missing_pytree_data_file_manifest.ocdbt')
  with pytest.raises(ckptdb.Error, match='manifest.ocdbt'):
    ckptdb.StandardCheckpointer().restore(bad)


def test_ckptdb_databases_are_not_mistaken_for_orbax(tmp_path):
  path = str(tmp_path / 'db')
  ckptdb.StandardCheckpointer().save(path, {'x': np.arange(3)})
  got = ckptdb.StandardCheckpointer().restore(path)
  np.testing.assert_array_equal(got['x'], np.arange(3))


# ---- CheckpointManager ------------------------------------------------------


def _manager(root, **kw):
  return ckptdb.CheckpointManager(
      root, options=ckptdb.CheckpointManagerOptions(read_only=True, **kw))


def test_manager_lists_and_restores_orbax_steps():
  with _manager(SAR_ROOT) as mngr:
    assert mngr.is_orbax
    assert mngr.all_steps() == [1]
    assert mngr.latest_step() == 1
    assert mngr.step_name(1) == '1'
    full = mngr.restore(1)
    assert set(full) == {'step', 'params', 'opt_state'} or 'params' in full
    kernel = full['params']['decoder']['cross_attention']['key_proj']['kernel']
    assert isinstance(kernel, np.ndarray) and kernel.size > 0
    # The same with the legacy call and with args.
    again = mngr.restore(None, args=ckptdb.args.StandardRestore())
    np.testing.assert_array_equal(
        again['params']['decoder']['cross_attention']['key_proj']['kernel'],
        kernel)
    # Partial restore: one leaf, cast by its RestoreArgs.
    target = {'params': {'decoder': {'cross_attention': {'key_proj': {
        'kernel': np.zeros(kernel.shape, np.float64)}}}}}
    cast = {'params': {'decoder': {'cross_attention': {'key_proj': {
        'kernel': ckptdb.RestoreArgs(dtype=np.float64)}}}}}
    part = mngr.restore(1, args=ckptdb.args.PyTreeRestore(
        target, restore_args=cast, partial_restore=True))
    got = part['params']['decoder']['cross_attention']['key_proj']['kernel']
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, kernel.astype(np.float64))
    assert list(part) == ['params']
    m = mngr.metadata(1)
    assert m.init_timestamp_nsecs == 1752428126588546000
    assert mngr.item_metadata(1)['params']['decoder']['cross_attention'][
        'key_proj']['kernel'].shape == kernel.shape
    with pytest.raises(FileNotFoundError):
      mngr.restore(7)


def test_manager_refuses_writes(tmp_path):
  root = str(tmp_path / 'run')
  shutil.copytree(SAR_ROOT, root)
  before = sorted(os.listdir(root))
  for read_only in (True, False):
    with ckptdb.CheckpointManager(root, options=ckptdb.CheckpointManagerOptions(
        read_only=read_only)) as mngr:
      assert mngr.all_steps() == [1]
      with pytest.raises(ckptdb.FailedPreconditionError,
                         match='Import it first'):
        mngr.save(2, args=ckptdb.args.StandardSave({'x': np.ones(2)}),
                  force=True)
      with pytest.raises(ckptdb.FailedPreconditionError):
        mngr.delete(1)
  assert sorted(os.listdir(root)) == before


def test_manager_skips_unfinished_steps(tmp_path):
  root = tmp_path / 'run'
  shutil.copytree(SAR_ROOT, root)
  shutil.copytree(root / '1', root / '3.orbax-checkpoint-tmp-17')
  shutil.copytree(root / '1', root / '5')
  with _manager(str(root)) as mngr:
    assert mngr.all_steps() == [1, 5]
    assert mngr.latest_step() == 5
    np.testing.assert_array_equal(mngr.restore(5)['step'],
                                  mngr.restore(1)['step'])


def test_manager_damaged_step_names_the_file(tmp_path):
  root = tmp_path / 'run'
  shutil.copytree(SAR_ROOT, root)
  d = root / '1' / 'default' / 'd'
  for f in os.listdir(d):
    os.remove(d / f)
  with _manager(str(root)) as mngr:
    with pytest.raises(ckptdb.CorruptionError, match=str(d)):
      mngr.restore(1)
