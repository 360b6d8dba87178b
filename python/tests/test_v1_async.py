"""ckptdb.v1: async saving and loading, ocp.Context and ocp.options.

The guide tests run the cells of Orbax's v1 guides "Async Checkpointing"
(docs/guides/checkpoint/v1/async_checkpointing.ipynb) and "Context"
(docs/guides/checkpoint/v1/context.ipynb) with only the import changed
(`from ckptdb import v1 as ocp`), jnp replaced by numpy and epath by
pathlib. The others follow the docstrings of Orbax's
experimental/v1/_src/context/context.py and options.py,
_src/loading/loading.py (load_async), _src/synchronization/types.py
(AsyncResponse) and _src/training/checkpointer.py.
"""

import threading
import time
import warnings

import numpy as np
import pytest

import ckptdb
from ckptdb import _ignored
from ckptdb import utils
from ckptdb import v1 as ocp


def _train_state():
  return {'layer0': {'kernel': np.ones((8, 8), dtype=np.float32),
                     'bias': np.ones((8,), dtype=np.float32)}}


def _assert_tree_equal(a, b):
  assert type(a) is type(b) or (isinstance(a, dict) and isinstance(b, dict))
  if isinstance(a, dict):
    assert a.keys() == b.keys()
    for k in a:
      _assert_tree_equal(a[k], b[k])
  else:
    np.testing.assert_array_equal(a, b)


# ---- async_checkpointing.ipynb ---------------------------------------------


def test_async_guide(tmp_path):
  """async_checkpointing.ipynb: ocp.save, then ocp.save_async + result()."""
  root_dir = tmp_path / 'async_checkpointing'
  train_state = _train_state()

  path = root_dir / 'sync'
  ocp.save(path, train_state)

  path = root_dir / 'async'
  response = ocp.save_async(path, train_state)
  ### Do some other work...
  assert response.result() is None

  _assert_tree_equal(ocp.load(root_dir / 'sync'), train_state)
  _assert_tree_equal(ocp.load(path), train_state)


def test_save_async_arrays_may_change_after_return(tmp_path):
  """save_async returns once the arrays are captured (Orbax: "the save
  completes in a background thread"; the state may then be updated)."""
  state = {'w': np.arange(1 << 16, dtype=np.float32)}
  response = ocp.save_async(tmp_path / 'c', state)
  state['w'][:] = -1
  response.result()
  np.testing.assert_array_equal(ocp.load(tmp_path / 'c')['w'],
                                np.arange(1 << 16, dtype=np.float32))


def test_save_async_error_raised_by_result(tmp_path):
  """An existing checkpoint without overwrite is an error (saving.py); a
  save_checkpointables_async error surfaces at once or from result()."""
  ocp.save(tmp_path / 'c', {'a': 1})
  with pytest.raises(FileExistsError):
    ocp.save_async(tmp_path / 'c', {'a': 2}).result()
  ocp.save_async(tmp_path / 'c', {'a': 3}, overwrite=True).result()
  assert ocp.load(tmp_path / 'c') == {'a': 3}


def test_async_response_on_complete(tmp_path):
  """AsyncResponse (synchronization/types.py): result(timeout) and
  on_complete(callback), called with the result."""
  seen = []
  event = threading.Event()
  response = ocp.save_async(tmp_path / 'c', _train_state())
  response.on_complete(lambda r: (seen.append(r), event.set()))
  response.result(timeout=60)
  assert event.wait(60)
  assert seen == [None]
  # Registered after completion: called at once.
  response.on_complete(seen.append)
  assert seen == [None, None]


def test_load_async_and_load_pytree_async(tmp_path):
  """loading.py load_async(path, abstract_state, *, checkpointable_name):
  an AsyncResponse whose result() is the pytree. (Orbax supports it only
  for safetensors checkpoints; ckptdb for any.)"""
  state = _train_state()
  ocp.save(tmp_path / 'c', state)
  response = ocp.load_async(tmp_path / 'c')
  _assert_tree_equal(response.result(), state)

  abstract = {'layer0': {'kernel': utils.ShapeDtypeStruct((8, 8), np.float16),
                         'bias': utils.ShapeDtypeStruct((8,), np.float32)}}
  loaded = ocp.load_async(tmp_path / 'c', abstract).result()
  assert loaded['layer0']['kernel'].dtype == np.float16

  with pytest.warns(DeprecationWarning):
    response = ocp.load_pytree_async(tmp_path / 'c', abstract_pytree=None)
  _assert_tree_equal(response.result(), state)
  with pytest.warns(DeprecationWarning):
    response = ocp.save_pytree_async(tmp_path / 'd', state)
  response.result()

  loaded = ocp.load_checkpointables_async(tmp_path / 'c').result()
  _assert_tree_equal(loaded['pytree'], state)

  with pytest.raises(FileNotFoundError):
    ocp.load_async(tmp_path / 'missing').result()


def test_is_orbax_checkpoint(tmp_path):
  """ocp.is_orbax_checkpoint: True for a checkpoint ocp.load reads."""
  ocp.save(tmp_path / 'c', {'a': np.zeros(3)})
  assert ocp.is_orbax_checkpoint(tmp_path / 'c')
  assert not ocp.is_orbax_checkpoint(tmp_path / 'missing')
  (tmp_path / 'empty').mkdir()
  assert not ocp.is_orbax_checkpoint(tmp_path / 'empty')


def test_metadata_checkpointable_name(tmp_path):
  """metadata/loading.py metadata(path, checkpointable_name=AUTO); path is
  FileOptions.path_class(path)."""
  ocp.save_checkpointables(tmp_path / 'c', {'a': {'x': np.zeros(3)},
                                            'b': {'y': np.ones(2)}})
  m = ocp.metadata(tmp_path / 'c', checkpointable_name='b')
  assert list(m.metadata) == ['y'] and m.metadata['y'].shape == (2,)
  assert m.path == tmp_path / 'c'


# ---- context.ipynb ---------------------------------------------------------


def _params():
  return {'w': np.zeros((2, 3)), 'b': np.ones((3, 4))}


def test_context_guide_frozen_inside_with(tmp_path):
  """context.ipynb: configure a template; mutating an active context is
  a RuntimeError."""
  directory = tmp_path
  params_tree = {'params': _params()}
  ctx = ocp.Context()
  ctx.asynchronous.timeout_secs = 600  # Perfectly valid (configuring template)

  with ctx:
    ocp.save(directory / 'sync', params_tree)
    with pytest.raises(RuntimeError, match='active context'):
      ctx.asynchronous.timeout_secs = 1200
    with pytest.raises(RuntimeError):
      ctx.checkpoint_layout = 'orbax'
  ctx.asynchronous.timeout_secs = 1200  # no longer active
  assert ctx.asynchronous.timeout_secs == 1200


def test_context_guide_options_checkpointer_and_free_functions(tmp_path):
  """context.ipynb "Configuring options": dot-notation options, passed to a
  training.Checkpointer and bound with `with ctx:` for free functions."""
  directory = tmp_path
  params = _params()
  params_tree = {'params': params}
  step = 0
  ctx = ocp.Context()
  ctx.asynchronous.timeout_secs = 1200
  ctx.asynchronous.create_directories_asynchronously = True
  ctx.array.saving.use_zarr3 = True
  ctx.array.saving.use_compression = False
  ctx.array.loading.enable_padding_and_truncation = True
  ctx.pytree.loading.partial_load = True

  with ocp.training.Checkpointer(directory / 'ckptr', context=ctx) as ckptr:
    ckptr.save_checkpointables(step, {'params': params})
    loaded = ckptr.load_checkpointables(step)
  _assert_tree_equal(loaded['params'], params)

  with ctx:
    ocp.save(directory / 'free', params_tree)
    # partial_load: the abstract tree may omit entries.
    loaded = ocp.load(directory / 'free', {'params': {'w': params['w']}})
  assert list(loaded['params']) == ['w']


def test_context_guide_child_checkpointer(tmp_path):
  """context.ipynb: a Checkpointer branches a child Context(base_ctx)."""
  base_ctx = ocp.Context()
  base_ctx.pytree.loading.partial_load = True
  base_ctx.asynchronous.timeout_secs = 1200
  with ocp.training.Checkpointer(tmp_path / 'child_ckptr',
                                 context=base_ctx) as ckptr:
    ckptr.save_checkpointables(0, {'params': _params()})
    # The Checkpointer's copy is independent of base_ctx.
    base_ctx.pytree.loading.partial_load = False
    loaded = ckptr.load(0, {'w': np.zeros((2, 3))},
                        checkpointable_name='params')
  assert list(loaded) == ['w']


def test_context_guide_scoped_storage_options(tmp_path):
  """context.ipynb "scoped storage options": weights stored in float16,
  everything else in the global storage dtype (float32)."""

  def custom_storage_rules(keypath, value):
    # Downcast large weights to float16, leave biases as default
    if 'weight' in ''.join(str(k) for k in keypath):
      return ocp.options.ArrayOptions.Saving.StorageOptions(dtype=np.float16)
    return None  # Fall back to global storage_options

  params_tree = {'params': {'weight': np.ones((2, 2)),
                            'bias': np.ones((2,))},
                 'count': 3}
  ctx = ocp.Context()
  ctx.array.saving.storage_options.dtype = np.float32
  ctx.array.saving.scoped_storage_options_creator = custom_storage_rules
  with ctx:
    ocp.save(tmp_path / 'scoped', params_tree)
  loaded = ocp.load(tmp_path / 'scoped')
  assert loaded['params']['weight'].dtype == np.float16
  assert loaded['params']['bias'].dtype == np.float32


def test_scoped_storage_keypath_entries(tmp_path):
  """options.py: the creator is called like jax.tree.map_with_path, with
  key entries whose str() matches jax.tree_util.keystr's."""
  seen = {}

  def creator(keypath, value):
    seen[''.join(str(k) for k in keypath)] = value.shape
    return None

  ctx = ocp.Context()
  ctx.array.saving.scoped_storage_options_creator = creator
  with ctx:
    ocp.save(tmp_path / 'c', {'a': [np.zeros(1), np.zeros(2)],
                              'b': {'c': np.zeros(3)}})
  assert seen == {"['a'][0]": (1,), "['a'][1]": (2,), "['b']['c']": (3,)}


def test_context_guide_async_save(tmp_path):
  """context.ipynb: an async save inside the active context."""
  main_ctx = ocp.Context()
  main_ctx.asynchronous.timeout_secs = 600
  with main_ctx:
    response = ocp.save_async(tmp_path / 'async', {'params': _params()})
    response.result()
  _assert_tree_equal(ocp.load(tmp_path / 'async'), {'params': _params()})


def test_context_guide_multiprocessing_barrier_prefix_refused(tmp_path):
  """context.ipynb "cluster" cell: a barrier_sync_key_prefix asks for
  multi-host barriers; one process writes a ckptdb database, so the save
  raises NotImplementedError naming the option (never ignored)."""
  cluster_ctx = ocp.Context()
  cluster_ctx.multiprocessing.barrier_sync_key_prefix = 'model_v1_sync_'
  cluster_ctx.asynchronous.timeout_secs = 1200
  with cluster_ctx:
    with pytest.raises(NotImplementedError,
                       match='multiprocessing.barrier_sync_key_prefix'):
      ocp.save(tmp_path / 'cluster', {'params': _params()})
  assert not (tmp_path / 'cluster').exists()


def test_context_guide_child_of_active_parent(tmp_path):
  """context.ipynb: a child of an active parent may be changed; the parent
  may not."""
  parent_ctx = ocp.Context()
  parent_ctx.asynchronous.timeout_secs = 600
  with parent_ctx:
    child_ctx = ocp.Context(parent_ctx)
    assert child_ctx.asynchronous.timeout_secs == 600
    child_ctx.asynchronous.timeout_secs = 300  # Perfectly valid
    with pytest.raises(RuntimeError):
      parent_ctx.asynchronous.timeout_secs = 1200
    with child_ctx:
      assert ocp.get_context() is child_ctx
    assert ocp.get_context() is parent_ctx
  assert parent_ctx.asynchronous.timeout_secs == 600
  assert ocp.get_context() is not parent_ctx


def test_context_keyword_options_and_thread_isolation(tmp_path):
  """context.py: Context(async_options=...) (deprecated form) and "Context
  is not shared across threads"."""
  ctx = ocp.Context(async_options=ocp.options.AsyncOptions(timeout_secs=5),
                    file_options=ocp.options.FileOptions())
  assert ctx.async_options.timeout_secs == 5 and ctx.asynchronous is (
      ctx.async_options)
  seen = []
  with ctx:
    t = threading.Thread(target=lambda: seen.append(ocp.get_context()))
    t.start()
    t.join()
  assert seen[0] is not ctx and seen[0].asynchronous.timeout_secs == 1200


# ---- options ----------------------------------------------------------------


def test_post_finalization_callback(tmp_path):
  """AsyncOptions.post_finalization_callback: called after the async save
  is finalized (free function and training.Checkpointer)."""
  calls = []
  ctx = ocp.Context()
  ctx.asynchronous.post_finalization_callback = lambda: calls.append(
      ocp.is_orbax_checkpoint(tmp_path / 'c'))
  with ctx:
    ocp.save_async(tmp_path / 'c', {'a': np.zeros(4)}).result()
  assert calls == [True]

  with ocp.training.Checkpointer(tmp_path / 'run', context=ctx) as ckptr:
    ckptr.save(0, {'a': np.zeros(4)})
    ckptr.save_async(1, {'a': np.ones(4)}).result()
  assert len(calls) == 3


def test_timeout_secs(tmp_path, monkeypatch):
  """AsyncOptions.timeout_secs: result() gives up with TimeoutError after
  it (the save goes on, and result() may be called again)."""
  from ckptdb.v1 import _async
  release = threading.Event()
  response = _async.AsyncResponse(lambda: release.wait(60) and 7,
                                   timeout_secs=0.05)
  with pytest.raises(TimeoutError):
    response.result()
  release.set()
  assert response.result() == 7
  assert response.result(timeout=1) == 7


def test_enable_padding_and_truncation(tmp_path):
  """ArrayOptions.Loading.enable_padding_and_truncation: a sharded abstract
  leaf's differing shape raises by default, pads or truncates when set
  (array_leaf_handler.py: strict = not enable_padding_and_truncation)."""
  ocp.save(tmp_path / 'c', {'x': np.arange(4, dtype=np.float32)})
  abstract = {'x': utils.ShapeDtypeStruct((6,), np.float32,
                                          sharding='single-device')}
  with pytest.raises(ValueError, match='x'):
    ocp.load(tmp_path / 'c', abstract)
  ctx = ocp.Context()
  ctx.array.loading.enable_padding_and_truncation = True
  with ctx:
    loaded = ocp.load(tmp_path / 'c', abstract)
  np.testing.assert_array_equal(loaded['x'], [0, 1, 2, 3, 0, 0])


def test_partial_load_off_by_default(tmp_path):
  """PyTreeOptions.Loading.partial_load defaults to False: an abstract tree
  missing a saved entry is an error."""
  ocp.save(tmp_path / 'c', {'a': np.zeros(2), 'b': np.ones(2)})
  with pytest.raises(ckptdb.InvalidArgumentError, match='partial'):
    ocp.load(tmp_path / 'c', {'a': np.zeros(2)})


@pytest.mark.parametrize('setter,name', [
    (lambda c: setattr(c.file, 'path_permission_mode', 0o750),
     'file.path_permission_mode'),
    (lambda c: setattr(c.multiprocessing, 'primary_host', 1),
     'multiprocessing.primary_host'),
    (lambda c: setattr(c.array.loading, 'use_load_and_broadcast', True),
     'array.loading.use_load_and_broadcast'),
    (lambda c: setattr(c.memory, 'write_concurrent_bytes', 1 << 30),
     'memory.write_concurrent_bytes'),
    (lambda c: setattr(c.deletion.gcs_deletion_options,
                       'todelete_full_path', 'trash'),
     'deletion.gcs_deletion_options.todelete_full_path'),
    (lambda c: setattr(c.pathways, 'checkpointing_impl', 'x'),
     'pathways.checkpointing_impl'),
    (lambda c: setattr(c.safetensors, 'read_chunk_bytes', 1),
     'safetensors.read_chunk_bytes'),
    (lambda c: setattr(c.pytree.saving.pytree_metadata_options,
                       'support_rich_types', True),
     'pytree.saving.pytree_metadata_options.support_rich_types'),
    (lambda c: setattr(c, 'checkpoint_layout', 'safetensors'),
     'safetensors'),
])
def test_options_that_cannot_apply_raise(tmp_path, setter, name):
  """Options ckptdb cannot apply raise NotImplementedError naming them, in
  free functions and in training.Checkpointer (never silently ignored)."""
  ctx = ocp.Context()
  setter(ctx)
  with ctx:
    with pytest.raises(NotImplementedError, match=name.replace('.', r'\.')):
      ocp.save(tmp_path / 'c', {'a': 1})
    with pytest.raises(NotImplementedError):
      ocp.load_async(tmp_path / 'c')
  with pytest.raises(NotImplementedError, match=name.replace('.', r'\.')):
    ocp.training.Checkpointer(tmp_path / 'run', context=ctx)


def test_layout_options_warn_once(tmp_path):
  """Orbax-layout options (use_ocdbt, ...) are accepted with one warning
  saying what ckptdb does instead; the save works."""
  _ignored.reset()
  ctx = ocp.Context()
  ctx.array.saving.use_ocdbt = False
  with ctx:
    with pytest.warns(UserWarning, match='use_ocdbt'):
      ocp.save(tmp_path / 'c', {'a': np.zeros(2)})
    with warnings.catch_warnings():
      warnings.simplefilter('error')
      ocp.save(tmp_path / 'd', {'a': np.zeros(2)})
  assert ocp.load(tmp_path / 'd')['a'].shape == (2,)


def test_accepted_options_do_not_warn(tmp_path):
  """Options ckptdb's behaviour already satisfies: no warning, no error."""
  ctx = ocp.Context()
  ctx.asynchronous.create_directories_asynchronously = False
  ctx.array.saving.use_compression = False
  ctx.array.loading.raise_array_data_missing_error = False
  ctx.atomicity.mode = ocp.options.AtomicityMode.COMMIT_FILE
  ctx.multiprocessing.primary_host = None
  ctx.multiprocessing.active_processes = {0}
  with ctx, warnings.catch_warnings():
    warnings.simplefilter('error')
    ocp.save(tmp_path / 'c', {'a': np.zeros(2)})
    assert ocp.load(tmp_path / 'c')['a'].shape == (2,)


def test_path_class(tmp_path):
  """FileOptions.path_class: the type of CheckpointMetadata.path."""

  class MyPath(type(tmp_path)):
    pass

  ocp.save(tmp_path / 'c', {'a': 1})
  ctx = ocp.Context()
  ctx.file.path_class = MyPath
  with ctx:
    assert type(ocp.metadata(tmp_path / 'c').path) is MyPath
  with ocp.training.Checkpointer(tmp_path / 'run', context=ctx) as ckptr:
    ckptr.save(0, {'a': 1})
    assert isinstance(ckptr.latest.path, MyPath)


# ---- training.Checkpointer ---------------------------------------------------


def test_training_save_async_response(tmp_path):
  """checkpointer.py: save_async returns an AsyncResponse[bool] (None when
  the policy does not save); load_async and load_pytree_async are not
  supported, as in Orbax."""
  with ocp.training.Checkpointer(tmp_path / 'run') as ckptr:
    response = ckptr.save_async(0, {'a': np.zeros(3)})
    done = []
    response.on_complete(done.append)
    assert response.result() is True
    deadline = time.time() + 10
    while not done and time.time() < deadline:
      time.sleep(0.01)
    assert done == [True]
    with pytest.raises(NotImplementedError):
      ckptr.load_async()
    with pytest.warns(DeprecationWarning), pytest.raises(NotImplementedError):
      ckptr.load_pytree_async()
    assert ckptr.load()['a'].shape == (3,)


def test_training_checkpointer_uses_active_context(tmp_path):
  """checkpointer.py: without context=, the Checkpointer copies the active
  context."""
  ctx = ocp.Context()
  ctx.pytree.loading.partial_load = True
  with ctx:
    ckptr = ocp.training.Checkpointer(tmp_path / 'run')
  with ckptr:
    ckptr.save(0, {'a': np.zeros(2), 'b': np.ones(2)})
    assert list(ckptr.load(0, {'a': np.zeros(2)})) == ['a']


def test_exit_after_save_async(tmp_path):
  """The interpreter exits cleanly after save_async (with or without
  result()): the save commits first (Orbax waits for its background save at
  exit too)."""
  import os
  import subprocess
  import sys
  code = ('import sys, numpy as np\n'
          'from ckptdb import v1 as ocp\n'
          'r = ocp.save_async(sys.argv[1], {"a": np.zeros(1 << 20)})\n'
          'if sys.argv[2] == "wait": r.result()\n')
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  for mode in ('wait', 'nowait'):
    path = tmp_path / mode
    proc = subprocess.run([sys.executable, '-c', code, str(path), mode],
                          env=env, capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert ocp.load(path)['a'].shape == (1 << 20,)


def test_handlers_provided():
  """ocp.handlers (Orbax's CheckpointableHandler registries) is provided
  (tests in test_v1_handlers.py); Context's registry option is accepted."""
  assert ocp.handlers.local_registry().has('pytree')
  assert hasattr(ocp.handlers, 'JsonHandler')
