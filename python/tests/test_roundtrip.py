"""Round trips of every dtype, leaf type and container kind."""

import collections
import math
import os

import numpy as np
import pytest

import ckptdb
from treeutil import assert_tree_equal

NUMPY_DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                np.float64, np.complex64, np.complex128]


def _random(dtype, shape, seed=0):
  rng = np.random.default_rng(seed)
  dtype = np.dtype(dtype)
  nbytes = int(np.prod(shape)) * dtype.itemsize
  raw = rng.integers(0, 256, size=nbytes, dtype=np.uint8)
  if dtype == np.bool_:
    raw = raw & 1
  return raw.view(dtype).reshape(shape)


def _roundtrip(tmp_path, tree, name='c'):
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / name, tree)
  return ckptr.restore(tmp_path / name)


def test_core_dtypes_are_the_numpy_ones():
  names = ckptdb._ckptdb.dtype_names()
  assert names == ['bool', 'int8', 'int16', 'int32', 'int64', 'uint8',
                   'uint16', 'uint32', 'uint64', 'float16', 'bfloat16',
                   'float32', 'float64', 'complex64', 'complex128']
  assert {np.dtype(d).name for d in NUMPY_DTYPES} == set(names) - {'bfloat16'}


@pytest.mark.parametrize('dtype', NUMPY_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize('shape', [(), (0,), (7,), (3, 5), (2, 3, 4),
                                   (300, 1000)],
                         ids=lambda s: 'x'.join(map(str, s)) or 'scalar')
def test_every_dtype_and_shape(tmp_path, dtype, shape):
  a = _random(dtype, shape)
  got = _roundtrip(tmp_path, {'a': a})
  assert_tree_equal(got, {'a': a})
  assert got['a'].flags.writeable and got['a'].flags.c_contiguous


def test_float_special_values_bitwise(tmp_path):
  a = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310], np.float64)
  got = _roundtrip(tmp_path, {'a': a, 'f': -0.0, 'n': math.nan})
  assert got['a'].tobytes() == a.tobytes()
  assert math.copysign(1.0, got['f']) == -1.0
  assert math.isnan(got['n'])


def test_containers_and_python_leaves(tmp_path):
  tree = {
      'list': [1, 2.5, 'three', None, True, False],
      'tuple': (1, (2, (3,)), []),
      'empty': {'d': {}, 'l': [], 't': ()},
      0: 'int key',
      -7: {'nested': {5: np.arange(3)}},
      '0': 'str key beside an int key',
      'unicode': 'héllo ☃ \U0001F600',
      'big': 2**63 - 1,
      'neg': -2**63,
      'none': None,
  }
  got = _roundtrip(tmp_path, tree)
  assert_tree_equal(got, tree)
  assert isinstance(got['tuple'], tuple) and isinstance(got['tuple'][1], tuple)
  assert list(got.keys()) == list(tree.keys())  # order and key types kept


def test_bare_leaves_at_the_root(tmp_path):
  for i, leaf in enumerate([np.arange(4), 3, 2.5, 'x', True]):
    ckptr = ckptdb.Checkpointer(ckptdb.ArrayCheckpointHandler()) if isinstance(
        leaf, np.ndarray) else ckptdb.Checkpointer(ckptdb.JsonCheckpointHandler())
    ckptr.save(tmp_path / f'l{i}', leaf)
    assert_tree_equal(ckptr.restore(tmp_path / f'l{i}'), leaf)


def test_numpy_scalars_come_back_as_0d_arrays(tmp_path):
  tree = {'f32': np.float32(1.5), 'f64': np.float64(2.5), 'i8': np.int8(-3),
          'u64': np.uint64(2**64 - 1), 'b': np.bool_(True),
          'c': np.complex64(1 + 2j), 'f16': np.float16(0.5)}
  got = _roundtrip(tmp_path, tree)
  for k, v in tree.items():
    assert isinstance(got[k], np.ndarray) and got[k].shape == (), k
    assert got[k].dtype == v.dtype, k
    assert got[k][()] == v, k
  # Python scalars stay Python scalars.
  got = _roundtrip(tmp_path, {'i': 3, 'f': 0.25, 'b': False}, 'py')
  assert_tree_equal(got, {'i': 3, 'f': 0.25, 'b': False})


def test_non_contiguous_and_byte_swapped_arrays_are_saved_by_value(tmp_path):
  base = np.arange(60, dtype=np.float32).reshape(6, 10)
  swapped = np.arange(5, dtype='>i4')
  tree = {'t': base.T, 'slice': base[:, ::3], 'swapped': swapped,
          'fortran': np.asfortranarray(base)}
  got = _roundtrip(tmp_path, tree)
  for k in ('t', 'slice', 'fortran'):
    np.testing.assert_array_equal(got[k], tree[k])
    assert got[k].flags.c_contiguous
  assert got['swapped'].dtype == np.dtype('int32')  # stored in native order
  np.testing.assert_array_equal(got['swapped'], swapped)


def test_namedtuple_and_ordered_dict_with_target(tmp_path):
  Point = collections.namedtuple('Point', ['x', 'y'])
  tree = {'p': Point(np.ones(2), 3), 'o': collections.OrderedDict(a=1, b=2)}
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', tree)
  # Without a target: plain tuple and dict.
  plain = ckptr.restore(tmp_path / 'c')
  assert type(plain['p']) is tuple and type(plain['o']) is dict
  # With a target: the target's types.
  target = {'p': Point(np.zeros(2), 0),
            'o': collections.OrderedDict(a=0, b=0)}
  got = ckptr.restore(tmp_path / 'c', item=target)
  assert type(got['p']) is Point and type(got['o']) is collections.OrderedDict
  assert got['p'].y == 3 and got['o'] == {'a': 1, 'b': 2}


def test_save_args_and_restore_args_cast_dtypes(tmp_path):
  tree = {'w': np.linspace(0, 1, 11, dtype=np.float64), 'n': np.arange(4)}
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', tree,
             save_args={'w': ckptdb.SaveArgs(dtype=np.float16),
                        'n': ckptdb.SaveArgs()})
  meta = ckptr.metadata(tmp_path / 'c').item_metadata
  assert meta['w'].dtype == np.float16 and meta['w'].shape == (11,)
  assert meta['w'].source_dtype_name == 'float64'
  got = ckptr.restore(tmp_path / 'c')
  assert got['w'].dtype == np.float16
  np.testing.assert_array_equal(got['w'], tree['w'].astype(np.float16))
  got = ckptr.restore(tmp_path / 'c', restore_args={
      'w': ckptdb.RestoreArgs(dtype=np.float32),
      'n': ckptdb.ArrayRestoreArgs(dtype=np.int8)})
  assert got['w'].dtype == np.float32 and got['n'].dtype == np.int8
  np.testing.assert_array_equal(got['n'], np.arange(4, dtype=np.int8))


def test_bfloat16(tmp_path):
  """bfloat16 through the core's cast; numpy arrays need ml_dtypes."""
  w = np.array([1.0, 1.00390625, 3.14159, -2.5e-3], np.float32)
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'w': w},
             save_args={'w': ckptdb.SaveArgs(dtype='bfloat16')})
  assert ckptr.metadata(tmp_path / 'c').item_metadata['w'].dtype_name == 'bfloat16'
  # Restored cast back to float32: bfloat16 keeps 8 bits of mantissa.
  got = ckptr.restore(tmp_path / 'c',
                      restore_args={'w': ckptdb.RestoreArgs(dtype=np.float32)})
  expected = (w.view(np.uint32) + 0x7FFF + ((w.view(np.uint32) >> 16) & 1)
              ) & 0xFFFF0000
  np.testing.assert_array_equal(got['w'].view(np.uint32), expected)
  if ckptdb.have_bfloat16():
    import ml_dtypes  # pylint: disable=g-import-not-at-top
    got = ckptr.restore(tmp_path / 'c')
    assert got['w'].dtype == np.dtype(ml_dtypes.bfloat16)
  else:
    assert ckptr.metadata(tmp_path / 'c').item_metadata['w'].dtype == 'bfloat16'
    with pytest.raises(TypeError, match="leaf 'w'.*ml_dtypes"):
      ckptr.restore(tmp_path / 'c')


@pytest.mark.skipif(not ckptdb.have_bfloat16(), reason='ml_dtypes missing')
def test_bfloat16_numpy_arrays(tmp_path):
  import ml_dtypes  # pylint: disable=g-import-not-at-top
  a = np.arange(10, dtype=np.float32).astype(ml_dtypes.bfloat16)
  assert_tree_equal(_roundtrip(tmp_path, {'a': a}), {'a': a})


def test_placeholder_leaves_are_skipped(tmp_path):
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'a': np.arange(3), 'b': {'c': 1, 'd': 2.0}})
  got = ckptr.restore(tmp_path / 'c', item={'a': ckptdb.PLACEHOLDER,
                                            'b': {'c': 0, 'd': 0.0}})
  assert got == {'a': ckptdb.PLACEHOLDER, 'b': {'c': 1, 'd': 2.0}}
  assert ckptdb.PLACEHOLDER is ...


def test_partial_restore(tmp_path):
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'a': 1, 'b': 2, 'c': {'a': 3, 'e': 4}})
  got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.PyTreeRestore(
      {'a': 0, 'c': {'a': 0}}, partial_restore=True))
  assert got == {'a': 1, 'c': {'a': 3}}
  with pytest.raises(ValueError, match='partial_restore'):
    ckptr.restore(tmp_path / 'c', item={'a': 0, 'c': {'a': 0}})


def test_abstract_targets_from_metadata(tmp_path):
  tree = {'w': np.ones((2, 3), np.float32), 'step': 7}
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ckptdb.args.StandardSave(tree))
    mngr.wait_until_finished()
    meta = mngr.item_metadata(0)
    assert meta['w'].shape == (2, 3) and meta['w'].dtype == np.float32
    assert meta['step'] == 7
    got = mngr.restore(0, args=ckptdb.args.StandardRestore(meta))
    assert_tree_equal(got, tree)


def test_composite_with_a_plain_checkpointer(tmp_path):
  ckptr = ckptdb.Checkpointer(ckptdb.CompositeCheckpointHandler())
  ckptr.save(tmp_path / 'c', args=ckptdb.args.Composite(
      state=ckptdb.args.StandardSave({'w': np.arange(3)}),
      meta=ckptdb.args.JsonSave({'lr': 0.1, 'names': ('a', 'b')})))
  got = ckptr.restore(tmp_path / 'c')
  assert isinstance(got, ckptdb.Composite)
  assert_tree_equal(got.state, {'w': np.arange(3)})
  # JsonSave holds JSON (Orbax's json.dumps): the tuple comes back a list.
  assert got['meta'] == {'lr': 0.1, 'names': ['a', 'b']}
  target = {'w': np.zeros(3, np.int64)}
  only = ckptr.restore(tmp_path / 'c', args=ckptdb.args.Composite(
      state=ckptdb.args.StandardRestore(target)))
  assert list(only) == ['state'] and only.state['w'] is not target['w']
  np.testing.assert_array_equal(only.state['w'], np.arange(3))
  assert not target['w'].any()  # Orbax leaves the target unchanged


def test_store_tuning(tmp_path):
  ckptr = ckptdb.PyTreeCheckpointer(
      tuning=ckptdb.StoreTuning(chunk_bytes=1 << 16, mmap_reads=False,
                                writeback_bytes=1 << 16))
  a = np.arange(100000)  # 800000 bytes -> 13 chunks of 64 KiB
  ckptr.save(tmp_path / 'c', {'a': a, 'small': np.arange(3)})
  meta = ckptr.metadata(tmp_path / 'c').item_metadata
  assert meta['a'].chunk_count == 13 and not meta['a'].is_inline
  assert meta['small'].is_inline and meta['small'].nbytes == 24
  assert_tree_equal(ckptr.restore(tmp_path / 'c')['a'], a)


def test_store_tuning_direct_reads(tmp_path):
  # Both read paths restore the same bytes: chunks stored whole (random
  # float64, 64 KiB chunks) and chunks stored coded (a small change to the
  # next step is a patch), with and without a target.
  rng = np.random.default_rng(7)
  a = rng.standard_normal(50000)
  b = a.copy()
  b[3] += 1
  for direct in (True, False):
    path = tmp_path / f'direct_{direct}'
    tuning = ckptdb.StoreTuning(chunk_bytes=1 << 16, direct_reads=direct)
    with ckptdb.CheckpointManager(
        path, options=ckptdb.CheckpointManagerOptions(
            enable_async_checkpointing=False, tuning=tuning)) as mgr:
      assert mgr.save(1, {'a': a}) and mgr.save(2, {'a': b})
      assert_tree_equal(mgr.restore(1)['a'], a)
      assert_tree_equal(mgr.restore(2)['a'], b)
      target = {'a': np.zeros_like(a)}
      assert_tree_equal(mgr.restore(2, target)['a'], b)
  with pytest.raises((TypeError, RuntimeError)):
    ckptdb.CheckpointManager(
        tmp_path / 'bad', options=ckptdb.CheckpointManagerOptions(
            tuning={'direct_reads': 'yes'}))


def _niced_threads():
  """Threads of this process above its main thread's nice value."""
  def nice(stat_path):
    with open(stat_path) as f:
      return int(f.read().rsplit(')', 1)[1].split()[16])
  base = nice('/proc/self/stat')
  return sum(nice(f'/proc/self/task/{t}/stat') > base
             for t in os.listdir('/proc/self/task'))


def test_store_tuning_save_nice(tmp_path):
  before = _niced_threads()
  with ckptdb.CheckpointManager(
      tmp_path / 'm', options=ckptdb.CheckpointManagerOptions(
          enable_async_checkpointing=False,
          tuning=ckptdb.StoreTuning(save_nice=4, num_threads=1))) as mgr:
    assert _niced_threads() == before + 2  # num_threads + 1 save workers
    assert mgr.save(1, {'a': np.arange(300000)})
    assert_tree_equal(mgr.restore(1)['a'], np.arange(300000))
  assert _niced_threads() == before
  for bad in (-1, 20):
    with pytest.raises(ValueError, match=f'save_nice must be in \\[0, 19\\], got {bad}'):
      ckptdb.CheckpointManager(
          tmp_path / 'm', options=ckptdb.CheckpointManagerOptions(
              tuning={'save_nice': bad}))
