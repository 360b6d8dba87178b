"""ckptdb.sharding, ckptdb.ShardedArray and ckptdb.multihost (issue 13): JAX's
sharding model without JAX, the parts the C++ binding exchanges, the file
barrier between real processes, and restore args that carry shardings."""

import json
import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import ckptdb
from ckptdb import multihost
from ckptdb import orbax_utils
from ckptdb import sharding as shd
from ckptdb.sharding import P

S = slice


@pytest.fixture(autouse=True)
def _fresh_multihost():
  multihost._reset()  # pylint: disable=protected-access
  yield
  multihost._reset()  # pylint: disable=protected-access


def _by_id(mapping):
  return {d.id: v for d, v in mapping.items()}


def _mesh22(process_count=1):
  return shd.Mesh.create((2, 2), ('x', 'y'), process_count=process_count)


# ---- meshes and specs --------------------------------------------------------


def test_mesh_create_lays_devices_out_row_major_over_processes():
  """Mesh.create: devices 0..n-1 row-major, device d on process
  d // (n // process_count); .shape is name -> size in order."""
  mesh = shd.Mesh.create((2, 4), ('a', 'b'), process_count=4)
  assert list(mesh.shape.items()) == [('a', 2), ('b', 4)]
  assert mesh.axis_names == ('a', 'b') and mesh.size == 8
  assert mesh.devices.shape == (2, 4)
  assert [d.id for d in mesh.devices.flat] == list(range(8))
  assert [d.process_index for d in mesh.devices.flat] == [0, 0, 1, 1, 2, 2,
                                                          3, 3]
  assert mesh == shd.Mesh.create((2, 4), ('a', 'b'), process_count=4)
  assert mesh != shd.Mesh.create((2, 4), ('a', 'b'))


def test_mesh_errors():
  with pytest.raises(ValueError, match='6 devices.*4 processes'):
    shd.Mesh.create((2, 3), ('a', 'b'), process_count=4)
  with pytest.raises(ValueError, match='2 dimensions.*1 axis names'):
    shd.Mesh(np.array([[shd.Device(0)]], dtype=object), ('a',))
  with pytest.raises(ValueError, match='unique'):
    shd.Mesh.create((1, 1), ('a', 'a'))


def test_partition_spec_is_a_tuple_like_jax():
  spec = P('x', None, ('x', 'y'))
  assert isinstance(spec, tuple) and len(spec) == 3
  assert spec == ('x', None, ('x', 'y'))
  assert repr(P('x')) == "PartitionSpec('x')"
  assert P(['a', 'b'])[0] == ('a', 'b')
  with pytest.raises(TypeError, match='PartitionSpec entries'):
    P(3)


# ---- boxes -------------------------------------------------------------------


def test_boxes_1d_over_2x2():
  mesh = _mesh22()
  assert _by_id(shd.NamedSharding(mesh, P('x')).devices_indices_map(
      (8,))) == {0: (S(0, 4),), 1: (S(0, 4),), 2: (S(4, 8),),
                 3: (S(4, 8),)}
  # Two axes on one dimension: the first is major.
  assert _by_id(shd.NamedSharding(mesh, P(('x', 'y'))).devices_indices_map(
      (8,))) == {0: (S(0, 2),), 1: (S(2, 4),), 2: (S(4, 6),),
                 3: (S(6, 8),)}
  assert _by_id(shd.NamedSharding(mesh, P(('y', 'x'))).devices_indices_map(
      (8,))) == {0: (S(0, 2),), 1: (S(4, 6),), 2: (S(2, 4),),
                 3: (S(6, 8),)}


def test_boxes_2d_over_2x2():
  mesh = _mesh22()
  assert _by_id(shd.NamedSharding(mesh, P('x', 'y')).devices_indices_map(
      (4, 6))) == {0: (S(0, 2), S(0, 3)), 1: (S(0, 2), S(3, 6)),
                   2: (S(2, 4), S(0, 3)), 3: (S(2, 4), S(3, 6))}
  assert _by_id(shd.NamedSharding(mesh, P('y', 'x')).devices_indices_map(
      (4, 6))) == {0: (S(0, 2), S(0, 3)), 1: (S(2, 4), S(0, 3)),
                   2: (S(0, 2), S(3, 6)), 3: (S(2, 4), S(3, 6))}
  s = shd.NamedSharding(mesh, P(None, 'y'))
  assert _by_id(s.devices_indices_map((4, 6))) == {
      0: (S(None), S(0, 3)), 1: (S(None), S(3, 6)),
      2: (S(None), S(0, 3)), 3: (S(None), S(3, 6))}
  assert s.shard_shape((4, 6)) == (4, 3)


def test_boxes_3d_over_2x2_4x1_and_1x8():
  s = shd.NamedSharding(_mesh22(), P('y', None, 'x'))
  assert _by_id(s.devices_indices_map((4, 4, 2))) == {
      0: (S(0, 2), S(None), S(0, 1)), 1: (S(2, 4), S(None), S(0, 1)),
      2: (S(0, 2), S(None), S(1, 2)), 3: (S(2, 4), S(None), S(1, 2))}
  mesh41 = shd.Mesh.create((4, 1), ('a', 'b'))
  s = shd.NamedSharding(mesh41, P('a'))
  assert _by_id(s.devices_indices_map((8, 2, 3))) == {
      i: (S(2 * i, 2 * i + 2), S(None), S(None)) for i in range(4)}
  # An axis of size 1 splits nothing: slice(None), as in JAX.
  s = shd.NamedSharding(mesh41, P('b', None, 'a'))
  assert _by_id(s.devices_indices_map((3, 2, 8))) == {
      i: (S(None), S(None), S(2 * i, 2 * i + 2)) for i in range(4)}
  mesh18 = shd.Mesh.create((1, 8), ('r', 'c'), process_count=2)
  s = shd.NamedSharding(mesh18, P('r', 'c'))
  assert _by_id(s.devices_indices_map((2, 16, 3))) == {
      i: (S(None), S(2 * i, 2 * i + 2), S(None)) for i in range(8)}
  assert set(_by_id(s.replica_ids((2, 16, 3))).values()) == {0}
  assert [d.id for d in s.addressable_devices(1)] == [4, 5, 6, 7]
  assert s.shard_shape((2, 16, 3)) == (2, 2, 3)


def test_replica_ids_with_a_replicated_axis():
  """Devices holding the same box: replica 0 is the lowest row-major
  position, then 1, 2, ..."""
  mesh = _mesh22()
  s = shd.NamedSharding(mesh, P('y'))  # x replicates
  assert _by_id(s.devices_indices_map((4,))) == {
      0: (S(0, 2),), 1: (S(2, 4),), 2: (S(0, 2),), 3: (S(2, 4),)}
  assert _by_id(s.replica_ids((4,))) == {0: 0, 1: 0, 2: 1, 3: 1}
  assert not s.is_fully_replicated
  s = shd.NamedSharding(mesh, P())
  assert _by_id(s.replica_ids((4,))) == {0: 0, 1: 1, 2: 2, 3: 3}
  assert s.is_fully_replicated
  assert shd.NamedSharding(shd.Mesh.create((4, 1), ('a', 'b')),
                           P('b')).is_fully_replicated


def test_sharding_errors_name_the_culprit():
  mesh = _mesh22()
  with pytest.raises(ValueError, match="axis 'z'.*not in the mesh"):
    shd.NamedSharding(mesh, P('z'))
  with pytest.raises(ValueError, match="axis 'x' more than once"):
    shd.NamedSharding(mesh, P('x', 'x'))
  with pytest.raises(ValueError, match="axis 'y' more than once"):
    shd.NamedSharding(mesh, P(('x', 'y'), 'y'))
  s = shd.NamedSharding(mesh, P('x', 'y'))
  with pytest.raises(ValueError, match='2 entries.*rank 1'):
    s.devices_indices_map((4,))
  with pytest.raises(ValueError,
                     match='dimension 1 of size 5 is not divisible by 2'):
    s.devices_indices_map((4, 5))
  with pytest.raises(ValueError,
                     match='dimension 0 of size 6 is not divisible by 4'):
    shd.NamedSharding(mesh, P(('x', 'y'))).shard_shape((6,))


# ---- ShardedArray ------------------------------------------------------------


def test_from_global_takes_the_process_shards_and_round_trips():
  arr = np.arange(48, dtype=np.float32).reshape(4, 6, 2)
  s = shd.NamedSharding(_mesh22(process_count=2), P('x', 'y'))
  x0 = ckptdb.ShardedArray.from_global(arr, s, process_index=0)
  x1 = ckptdb.ShardedArray.from_global(arr, s, process_index=1)
  assert x0.shape == (4, 6, 2) and x0.dtype == np.float32
  assert x0.ndim == 3 and x0.size == 48 and x0.sharding is s
  assert [sh.device.id for sh in x0.addressable_shards] == [0, 1]
  assert [sh.device.id for sh in x1.addressable_shards] == [2, 3]
  for sh in x0.addressable_shards + x1.addressable_shards:
    np.testing.assert_array_equal(sh.data, arr[sh.index])
    assert sh.replica_id == 0
  assert not np.shares_memory(x0.addressable_shards[0].data, arr)
  assert not x0.is_fully_addressable
  with pytest.raises(ValueError, match='not fully addressable'):
    np.asarray(x0)
  with pytest.raises(ValueError, match='not fully addressable'):
    x1.to_numpy()
  whole = ckptdb.ShardedArray.from_global(
      arr, shd.NamedSharding(_mesh22(), P('x', 'y')))
  assert whole.is_fully_addressable
  np.testing.assert_array_equal(np.asarray(whole), arr)
  # Replicated over x: each process holds every box.
  rep = ckptdb.ShardedArray.from_global(
      arr, shd.NamedSharding(_mesh22(process_count=2), P(None, 'y')), 1)
  assert [sh.replica_id for sh in rep.addressable_shards] == [1, 1]
  np.testing.assert_array_equal(rep.to_numpy(), arr)


def test_from_callback_indices_and_data_shape_check():
  s = shd.NamedSharding(_mesh22(), P('x'))
  seen = []

  def callback(index):
    seen.append(index)
    return np.arange(24).reshape(4, 6)[index]

  x = ckptdb.ShardedArray.from_callback((4, 6), np.int64, s, callback)
  assert seen == [(S(0, 2), S(None)), (S(2, 4), S(None))]  # once per box
  np.testing.assert_array_equal(x.to_numpy(), np.arange(24).reshape(4, 6))
  with pytest.raises(ValueError, match=r'data of shape \(3, 6\).*\(2, 6\)'):
    ckptdb.ShardedArray.from_callback((4, 6), np.int64, s,
                                      lambda index: np.zeros((3, 6)))
  dev = _mesh22().devices[0, 0]
  with pytest.raises(ValueError, match='the sharding gives it'):
    ckptdb.ShardedArray((4, 6), np.int64, s,
                        [shd.Shard(dev, (S(2, 4), S(None)), 0,
                                   np.zeros((2, 6)))])


def test_sharded_array_is_a_tree_leaf_and_converts():
  x = ckptdb.ShardedArray.from_global(np.arange(4.0),
                                      shd.NamedSharding(_mesh22(), P('y')))
  assert ckptdb._tree.flatten_one_level(x) is None  # pylint: disable=protected-access
  np.testing.assert_array_equal(np.asarray(x, dtype=np.int32), [0, 1, 2, 3])
  assert shd.is_sharded_leaf(x)
  assert not shd.is_sharded_leaf(np.zeros(2))
  assert shd.is_sharded_leaf(ckptdb.ShapeDtypeStruct(
      (4,), np.float32, sharding=x.sharding))
  assert not shd.is_sharded_leaf(ckptdb.ShapeDtypeStruct((4,), np.float32))


# ---- the binding's parts -----------------------------------------------------


def test_ckptdb_parts_round_trip():
  arr = np.arange(64, dtype=np.int8).reshape(4, 4, 4)
  mesh = _mesh22(process_count=2)
  s = shd.NamedSharding(mesh, P(None, 'y'))  # x replicates, dim 2 unnamed
  for p in (0, 1):
    x = ckptdb.ShardedArray.from_global(arr, s, p)
    parts = x._ckptdb_parts()  # pylint: disable=protected-access
    shape, dtype, names, sizes, procs, spec, shards = parts
    assert shape == (4, 4, 4) and dtype == np.int8
    assert names == ('x', 'y') and sizes == (2, 2)
    assert procs == (0, 0, 1, 1)
    assert spec == ((), ('y',), ())
    assert [start for start, _ in shards] == [(0, 0, 0), (0, 2, 0)]
    for start, data in shards:
      assert data.flags.c_contiguous and data.shape == (4, 2, 4)
      np.testing.assert_array_equal(data, arr[:, start[1]:start[1] + 2])
    y = shd._from_parts(*parts, process_index=p)  # pylint: disable=protected-access
    assert [(sh.device.id, sh.index, sh.replica_id)
            for sh in y.addressable_shards] == [
                (sh.device.id, sh.index, sh.replica_id)
                for sh in x.addressable_shards]
    np.testing.assert_array_equal(y.to_numpy(), arr)
    assert y.sharding == s
  # The process index defaults to multihost's.
  multihost.initialize(1, 2)
  x = ckptdb.ShardedArray.from_global(arr, shd.NamedSharding(mesh, P('x')))
  y = shd._from_parts(*x._ckptdb_parts())  # pylint: disable=protected-access
  assert [sh.device.id for sh in y.addressable_shards] == [2, 3]
  with pytest.raises(ValueError, match=r'starts at \(1, 0, 0\)'):
    shd._from_parts((4, 4, 4), np.int8, ('x', 'y'), (2, 2), (0, 0, 1, 1),  # pylint: disable=protected-access
                    (('x',), (), ()), [((1, 0, 0), np.zeros((2, 4, 4)))])


def test_sharding_parts_and_spec_for_rank():
  s = shd.NamedSharding(shd.Mesh.create((2, 4), ('a', 'b'), process_count=2),
                        P(None, ('b', 'a')))
  assert shd._sharding_parts(s) == (  # pylint: disable=protected-access
      ('a', 'b'), (2, 4), (0, 0, 0, 0, 1, 1, 1, 1), ((), ('b', 'a')))
  assert shd._spec_for_rank(s.spec, 3) == ((), ('b', 'a'), ())  # pylint: disable=protected-access
  assert shd._spec_for_rank(P(), 0) == ()  # pylint: disable=protected-access
  with pytest.raises(ValueError, match='rank 1'):
    shd._spec_for_rank(s.spec, 1)  # pylint: disable=protected-access
  with pytest.raises(TypeError, match='NamedSharding'):
    shd._sharding_parts(object())  # pylint: disable=protected-access


# ---- JAX, faked --------------------------------------------------------------


def _fake_jax():
  """A stand-in `jax` module with the attributes ckptdb duck-types."""
  jax = types.ModuleType('jax')

  class FakeDevice:
    def __init__(self, i, process):
      self.id, self.process_index = i, process

  class FakeMesh:
    def __init__(self, devices, axis_names):
      self.devices, self.axis_names = devices, axis_names

  class FakeNamedSharding:
    def __init__(self, mesh, spec):
      self.mesh, self.spec = mesh, spec

  class FakeShard:
    def __init__(self, device, index, replica_id, data):
      self.device, self.index = device, index
      self.replica_id, self.data = replica_id, data

  class FakeArray:
    def __init__(self, shape, dtype, sharding, shards):
      self.shape, self.dtype, self.sharding = shape, dtype, sharding
      self.addressable_shards = shards

  class FakeStruct:
    def __init__(self, shape, dtype, sharding=None):
      self.shape, self.dtype, self.sharding = shape, dtype, sharding

  devices = np.empty(4, dtype=object)
  for i in range(4):
    devices[i] = FakeDevice(i, i // 2)
  jax.mesh = FakeMesh(devices.reshape(2, 2), ('x', 'y'))
  jax.NamedSharding = FakeNamedSharding
  jax.Shard, jax.Array, jax.ShapeDtypeStruct = FakeShard, FakeArray, FakeStruct
  jax.process_index = lambda: 1
  jax.process_count = lambda: 2
  return jax


def test_jax_values_convert_through_a_stand_in(monkeypatch):
  """A jax.Array with a NamedSharding becomes a ShardedArray of its
  addressable shards; a jax.ShapeDtypeStruct a ckptdb one; the process
  index and count are JAX's until initialize()."""
  jax = _fake_jax()
  monkeypatch.setitem(sys.modules, 'jax', jax)
  assert multihost.process_index() == 1 and multihost.process_count() == 2
  assert not multihost.is_primary_host()
  multihost.initialize(0, 1)
  assert multihost.process_index() == 0 and multihost.process_count() == 1

  arr = np.arange(8.0).reshape(4, 2)
  sharding = jax.NamedSharding(jax.mesh, ('x',))  # a jax P is a tuple
  mine = [d for d in jax.mesh.devices.flat if d.process_index == 1]
  shards = [jax.Shard(d, (S(2, 4), S(None)), i, arr[2:4]) for i, d in
            enumerate(mine)]
  x = shd.to_ckptdb(jax.Array((4, 2), np.dtype(np.float64), sharding, shards))
  assert isinstance(x, ckptdb.ShardedArray) and x.shape == (4, 2)
  assert [sh.device for sh in x.addressable_shards] == mine
  assert [sh.replica_id for sh in x.addressable_shards] == [0, 1]
  assert x.sharding.spec == P('x') and x.sharding.mesh is jax.mesh
  parts = x._ckptdb_parts()  # pylint: disable=protected-access
  assert parts[4] == (0, 0, 1, 1) and parts[5] == (('x',), ())
  assert [start for start, _ in parts[6]] == [(2, 0)]
  assert shd._sharding_parts(sharding)[3] == (('x',),)  # pylint: disable=protected-access

  struct = shd.to_ckptdb(jax.ShapeDtypeStruct((4, 2), np.float32, sharding))
  assert isinstance(struct, ckptdb.ShapeDtypeStruct)
  assert struct.shape == (4, 2) and struct.sharding.spec == P('x')
  assert shd.is_sharded_leaf(jax.ShapeDtypeStruct((4,), np.float32,
                                                  sharding))
  plain = jax.ShapeDtypeStruct((4,), np.float32)
  assert shd.to_ckptdb(plain) is plain and not shd.is_sharded_leaf(plain)
  assert shd.to_ckptdb(arr) is arr and shd.to_ckptdb(3) == 3
  assert shd.NamedSharding(jax.mesh, P(None, 'y')).shard_shape((4, 4)) == (4, 2)


# ---- restore args ------------------------------------------------------------


def test_array_restore_args_resolved_sharding():
  mesh = _mesh22()
  s = shd.NamedSharding(mesh, P('x'))
  assert ckptdb.ArrayRestoreArgs(sharding=s).resolved_sharding() is s
  got = ckptdb.ArrayRestoreArgs(mesh=mesh, mesh_axes=('y', None),
                                sharding=s).resolved_sharding()
  assert got == shd.NamedSharding(mesh, P('y', None))
  assert ckptdb.ArrayRestoreArgs(mesh=mesh).resolved_sharding() is None
  assert ckptdb.ArrayRestoreArgs(sharding=object()).resolved_sharding() is None
  assert ckptdb.ArrayRestoreArgs().resolved_sharding() is None
  with pytest.raises(ValueError, match="axis 'q'"):
    ckptdb.ArrayRestoreArgs(mesh=mesh, mesh_axes=P('q')).resolved_sharding()


def test_restore_args_from_target_with_and_without_mesh():
  s = shd.NamedSharding(_mesh22(process_count=2), P('x', 'y'))
  target = {
      'sharded': ckptdb.ShardedArray.from_global(
          np.zeros((4, 4), np.float32), s, 0),
      'abstract': ckptdb.ShapeDtypeStruct((8, 2), np.int8, sharding=s),
      'host': np.zeros(3, np.int16),
      'n': 1,
  }
  ra = orbax_utils.restore_args_from_target(target)
  assert ra['sharded'] == ckptdb.ArrayRestoreArgs(
      sharding=s, global_shape=(4, 4), dtype=np.float32)
  assert ra['abstract'] == ckptdb.ArrayRestoreArgs(
      sharding=s, global_shape=(8, 2), dtype=np.int8)
  assert ra['host'] == ckptdb.RestoreArgs(restore_type=np.ndarray,
                                          dtype=np.int16)
  assert ra['n'] == ckptdb.RestoreArgs()

  new_mesh = shd.Mesh.create((1, 8), ('x', 'y'))
  ra = orbax_utils.restore_args_from_target(target, mesh=new_mesh)
  assert ra['sharded'] == ckptdb.ArrayRestoreArgs(
      mesh=new_mesh, mesh_axes=P('x', 'y'), global_shape=(4, 4),
      dtype=np.float32)
  assert ra['abstract'].resolved_sharding() == shd.NamedSharding(
      new_mesh, P('x', 'y'))
  assert ra['host'] == ckptdb.RestoreArgs(restore_type=np.ndarray,
                                          dtype=np.int16)


# ---- multihost ---------------------------------------------------------------


def test_initialize_validates():
  with pytest.raises(ValueError, match='process_count must be >= 1'):
    multihost.initialize(0, 0)
  with pytest.raises(ValueError, match=r'in \[0, 2\); got 2'):
    multihost.initialize(2, 2)
  with pytest.raises(ValueError, match=r'got -1'):
    multihost.initialize(-1, 2)
  with pytest.raises(TypeError, match='callable'):
    multihost.initialize(0, 2, barrier='no')
  calls = []
  multihost.initialize(1, 3, barrier=calls.append)
  assert multihost.process_index() == 1 and multihost.process_count() == 3
  assert not multihost.is_primary_host()
  assert multihost.barrier() is not None
  multihost.sync_global_processes('saved')
  assert calls == ['saved']


def test_single_process_barrier_returns_at_once(monkeypatch):
  monkeypatch.setitem(sys.modules, 'jax', None)  # import jax fails
  assert multihost.process_index() == 0 and multihost.process_count() == 1
  assert multihost.is_primary_host() and multihost.barrier() is None
  multihost.sync_global_processes('x')  # no directory needed


def test_file_barrier_times_out_naming_missing_processes(tmp_path):
  multihost.initialize(0, 3)
  with pytest.raises(TimeoutError, match=r'processes \[1, 2\]'):
    multihost.sync_global_processes('lonely', tmp_path, timeout_s=0.1)
  folder = tmp_path / 'ckptdb-barrier' / 'lonely' / '0'
  assert os.listdir(folder) == []  # its own arrival withdrawn
  with pytest.raises(ValueError, match='directory'):
    multihost.sync_global_processes('x')


_BARRIER_CHILD = textwrap.dedent('''
    import json, sys, time
    from ckptdb import multihost
    index, folder = int(sys.argv[1]), sys.argv[2]
    multihost.initialize(index, 3)
    log = []
    for use, name in enumerate(['a', 'a', 'b', 'a']):
      time.sleep(0.05 * ((index + use) % 3))
      log.append([name, time.time(), None])
      multihost.sync_global_processes(name, directory=folder, timeout_s=60)
      log[-1][2] = time.time()
    with open(f'{folder}/log{index}', 'w') as f:
      json.dump(log, f)
''')


def test_file_barrier_with_three_processes(tmp_path):
  """3 processes pass barriers 'a', 'a', 'b', 'a' (a name reused) arriving
  in different orders: none passes a barrier before the last arrives, and
  the primary leaves no barrier folder behind."""
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
  procs = [subprocess.Popen([sys.executable, '-c', _BARRIER_CHILD, str(i),
                             str(tmp_path)], env=env) for i in range(3)]
  assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
  logs = []
  for i in range(3):
    with open(tmp_path / f'log{i}', encoding='utf-8') as f:
      logs.append(json.load(f))
  for use in range(4):
    last_arrival = max(log[use][1] for log in logs)
    first_pass = min(log[use][2] for log in logs)
    assert first_pass >= last_arrival, use
  assert os.listdir(tmp_path / 'ckptdb-barrier' / 'a') == []
  assert os.listdir(tmp_path / 'ckptdb-barrier' / 'b') == []


def test_sharding_equality_ignores_trailing_unsplit_entries():
  mesh = _mesh22()
  assert shd.NamedSharding(mesh, P('x')) == shd.NamedSharding(mesh,
                                                              P('x', None))
  assert hash(shd.NamedSharding(mesh, P('x'))) == hash(
      shd.NamedSharding(mesh, P('x', None)))
  assert shd.NamedSharding(mesh, P('x')) != shd.NamedSharding(mesh, P('y'))
  assert shd.NamedSharding(mesh, P('x')) != shd.NamedSharding(
      _mesh22(process_count=2), P('x'))
  assert repr(P(None, ('x', 'y'))) == "PartitionSpec(None, ('x', 'y'))"


def test_scalars_and_non_contiguous_shards():
  """A 0-d array has one box, (); _ckptdb_parts makes shard data
  C-contiguous of the array's dtype."""
  s = shd.NamedSharding(shd.Mesh.create((2,), ('x',)), P())
  x = ckptdb.ShardedArray.from_global(np.float32(3.5), s)
  assert x.shape == () and [sh.index for sh in x.addressable_shards] == [(),
                                                                         ()]
  assert np.asarray(x) == np.float32(3.5) and np.asarray(x).shape == ()
  parts = x._ckptdb_parts()  # pylint: disable=protected-access
  assert parts[5] == () and [st for st, _ in parts[6]] == [()]
  assert parts[6][0][1].shape == ()
  assert shd._from_parts(*parts).to_numpy() == np.float32(3.5)  # pylint: disable=protected-access

  mesh = shd.Mesh.create((1,), ('x',))
  data = np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3))
  x = ckptdb.ShardedArray(
      (2, 3), np.int32, shd.NamedSharding(mesh, P('x')),
      [shd.Shard(mesh.devices[0], (S(None), S(None)), 0, data)])
  (start, got), = x._ckptdb_parts()[6]  # pylint: disable=protected-access
  assert start == (0, 0) and got.flags.c_contiguous
  np.testing.assert_array_equal(got, data)
