"""ocp.v1 handlers, registries, partial saving, tree / path / arrays / errors.

Written from Orbax's v1 sources and their documented examples
(checkpoint/orbax/checkpoint/experimental/v1/_src/handlers/types.py,
registration.py, json_handler.py, stateful_checkpointable_handler.py,
partial/saving.py, path/step.py, tree/structure_utils.py merge_trees),
with `import orbax.checkpoint.v1 as ocp` replaced by ckptdb's and JAX by
numpy.
"""

import asyncio
import dataclasses
import json
import os

import numpy as np
import pytest

import ckptdb
from ckptdb import v1 as ocp
from ckptdb.v1 import _checkpointables


@pytest.fixture(autouse=True)
def _global_registry_restored():
  """register_handler changes the process's global registry: undo it."""
  reg = ocp.handlers.global_registry()
  saved = list(reg._registry), dict(reg._secondary)  # pylint: disable=protected-access
  yield
  reg._registry[:] = saved[0]  # pylint: disable=protected-access
  reg._secondary.clear()  # pylint: disable=protected-access
  reg._secondary.update(saved[1])  # pylint: disable=protected-access


@dataclasses.dataclass
class Foo:
  x: int
  s: str


class AbstractFoo:
  pass


class FooHandler(ocp.handlers.CheckpointableHandler[Foo, AbstractFoo]):
  """The handler of Orbax's CheckpointableHandler docstring: blocking work
  in save, file writes in the returned background awaitable after
  `await directory.await_creation()`."""

  async def _background_save(self, directory, checkpointable):
    directory = await directory.await_creation()
    (directory / 'foo.json').write_text(
        json.dumps(dataclasses.asdict(checkpointable)))

  async def save(self, directory, checkpointable):
    return self._background_save(directory, checkpointable)

  async def _background_load(self, directory):
    return Foo(**json.loads((directory / 'foo.json').read_text()))

  async def load(self, directory, abstract_checkpointable=None):
    return self._background_load(directory)

  async def metadata(self, directory):
    return AbstractFoo()

  def is_handleable(self, checkpointable):
    return isinstance(checkpointable, Foo)

  def is_abstract_handleable(self, abstract_checkpointable):
    return isinstance(abstract_checkpointable, AbstractFoo)


def _folders(path):
  root = os.path.join(path, _checkpointables.FOLDER)
  return sorted(os.listdir(root)) if os.path.isdir(root) else []


def test_registered_handler_save_and_load_checkpointables(tmp_path):
  """types.py: register a handler, then save_checkpointables /
  load_checkpointables use it; the pytree is still an item; skipping the
  'foo' checkpointable on load works (the docstring's eval example)."""
  ocp.handlers.register_handler(FooHandler)
  path = tmp_path / 'ckpt'
  params = {'w': np.arange(6.0).reshape(2, 3), 'b': np.ones(3)}
  ocp.save_checkpointables(path, dict(pytree=params, foo=Foo(3, 'bar')))

  loaded = ocp.load_checkpointables(path)
  assert set(loaded) == {'pytree', 'foo'}
  assert loaded['foo'] == Foo(3, 'bar')
  np.testing.assert_array_equal(loaded['pytree']['w'], params['w'])
  only = ocp.load_checkpointables(path, dict(pytree=None))
  assert set(only) == {'pytree'}
  np.testing.assert_array_equal(ocp.load(path)['b'], params['b'])
  assert ocp.load_checkpointables(path, dict(foo=AbstractFoo()))['foo'] == (
      Foo(3, 'bar'))
  assert isinstance(ocp.load(path, checkpointable_name='foo'), Foo)

  meta = ocp.checkpointables_metadata(path).metadata
  assert set(meta) == {'pytree', 'foo'}
  assert isinstance(meta['foo'], AbstractFoo)
  assert meta['pytree']['w'].shape == (2, 3)
  # The handler's folder: <path>/ckptdb-checkpointables/foo-<token>/.
  [folder] = _folders(path)
  assert folder.startswith('foo-')
  assert os.listdir(os.path.join(path, 'ckptdb-checkpointables', folder)) == [
      'foo.json']
  assert not [p for p in os.listdir(tmp_path) if p != 'ckpt']  # no leftovers


def test_handler_directory_is_path_class(tmp_path):
  """FileOptions.path_class is the type of the paths handlers get."""
  import pathlib  # pylint: disable=g-import-not-at-top
  seen = []

  class Recording(FooHandler):

    async def save(self, directory, checkpointable):
      seen.append(type(directory.path))
      return await super().save(directory, checkpointable)

    async def load(self, directory, abstract_checkpointable=None):
      seen.append(type(directory))
      return await super().load(directory, abstract_checkpointable)

  registry = ocp.handlers.local_registry()
  registry.add(Recording)
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  ctx.file.path_class = pathlib.Path
  with ctx:
    ocp.save_checkpointables(tmp_path / 'c', {'foo': Foo(1, 'a')})
    ocp.load_checkpointables(tmp_path / 'c')
  assert len(seen) == 2 and all(issubclass(t, pathlib.Path) for t in seen)


def test_plain_pytree_checkpoint_has_no_record(tmp_path):
  """Checkpoints of pytrees alone keep ckptdb's layout: no record item, no
  folder."""
  ocp.save(tmp_path / 'c', {'a': np.ones(2)})
  assert set(ocp.checkpointables_metadata(tmp_path / 'c').metadata) == {
      'pytree'}
  assert ckptdb.Checkpointer().metadata(tmp_path / 'c').item_metadata.keys() == {
      'pytree'}
  assert not os.path.exists(tmp_path / 'c' / 'ckptdb-checkpointables')


def test_json_handler_local_registry_by_name(tmp_path):
  """json_handler.py's example: a local registry scoping JsonHandler to
  'experiment_config', set on the Context; JSON comes back exactly as
  JSON holds it (tuples as lists)."""
  config = {'learning_rate': 0.01, 'batch_size': 32, 'dims': (4, 8)}
  registry = ocp.handlers.local_registry()
  registry.add(ocp.handlers.JsonHandler,
               checkpointable_name='experiment_config')
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  with ctx:
    ocp.save_checkpointables(tmp_path / 'c', dict(experiment_config=config,
                                                  pytree={'a': np.ones(2)}))
    loaded = ocp.load_checkpointables(tmp_path / 'c')
  assert loaded['experiment_config'] == {'learning_rate': 0.01,
                                         'batch_size': 32, 'dims': [4, 8]}
  # The JSON is a database item (no folder), and loads so without the
  # registry too (the kind is recorded in the commit).
  assert _folders(tmp_path / 'c') == []
  assert ocp.load_checkpointables(tmp_path / 'c')['experiment_config'][
      'dims'] == [4, 8]


def test_json_handler_refuses_arrays_like_orbax(tmp_path):
  """A JsonHandler scoped by name to a value JSON cannot hold: TypeError
  (json.dumps's), as in Orbax."""
  registry = ocp.handlers.local_registry()
  registry.add(ocp.handlers.JsonHandler, checkpointable_name='cfg')
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  with ctx, pytest.raises(TypeError):
    ocp.save_checkpointables(tmp_path / 'c', dict(cfg={'a': np.ones(2)}))


class Counter(ocp.handlers.StatefulCheckpointable):
  """A StatefulCheckpointable (types.py): saves and loads itself."""

  def __init__(self, value=0):
    self.value = value

  async def save(self, directory):
    async def background():
      d = await directory.await_creation()
      (d / 'value').write_text(str(self.value))
    return background()

  async def load(self, directory):
    async def background():
      self.value = int((directory / 'value').read_text())
    return background()


def test_stateful_checkpointable(tmp_path):
  """stateful_checkpointable_handler.py: saved by its own save; loading
  needs an instance, filled in place and returned."""
  ocp.save_checkpointables(tmp_path / 'c', {'counter': Counter(41)})
  target = Counter()
  loaded = ocp.load_checkpointables(tmp_path / 'c', {'counter': target})
  assert loaded['counter'] is target and target.value == 41
  with pytest.raises(ValueError, match='instance'):
    ocp.load_checkpointables(tmp_path / 'c')
  # No metadata for a StatefulCheckpointable (Orbax raises; ckptdb: None).
  assert ocp.checkpointables_metadata(tmp_path / 'c').metadata == {
      'counter': None}


def test_plain_sync_handler_methods(tmp_path):
  """Handlers whose methods are plain functions (not async) work too."""

  class SyncHandler:

    def save(self, directory, checkpointable):
      d = directory.path
      os.makedirs(d, exist_ok=True)
      np.save(os.path.join(d, 'x.npy'), checkpointable.x)

    def load(self, directory, abstract_checkpointable=None):
      return Box(np.load(os.path.join(directory, 'x.npy')))

    def metadata(self, directory):
      return None

    def is_handleable(self, c):
      return isinstance(c, Box)

    def is_abstract_handleable(self, a):
      return None

  ocp.handlers.register_handler(SyncHandler)
  ocp.save_checkpointables(tmp_path / 'c', {'box': Box(np.arange(3))})
  np.testing.assert_array_equal(
      ocp.load_checkpointables(tmp_path / 'c')['box'].x, np.arange(3))


class Box:

  def __init__(self, x):
    self.x = x


def test_overwrite_replaces_folder_after_commit(tmp_path):
  """overwrite=True: the new folder gets a fresh name, the old one is
  deleted once the new commit refers to the new one; an overwrite without
  handlers leaves no folder."""
  ocp.handlers.register_handler(FooHandler)
  path = tmp_path / 'c'
  ocp.save_checkpointables(path, {'foo': Foo(1, 'a')})
  [old] = _folders(path)
  with pytest.raises(FileExistsError):
    ocp.save_checkpointables(path, {'foo': Foo(2, 'b')})
  assert _folders(path) == [old]
  ocp.save_checkpointables(path, {'foo': Foo(2, 'b')}, overwrite=True)
  [new] = _folders(path)
  assert new != old
  assert ocp.load_checkpointables(path)['foo'] == Foo(2, 'b')
  ocp.save_checkpointables(path, {'pytree': {'a': 1}}, overwrite=True)
  assert _folders(path) == []
  assert ocp.load_checkpointables(path) == {'pytree': {'a': 1}}


class FailingHandler(FooHandler):

  async def save(self, directory, checkpointable):
    async def background():
      d = await directory.await_creation()
      (d / 'partial').write_text('x')
      raise OSError('disk full')
    return background()


def test_failed_handler_leaves_nothing(tmp_path):
  """A handler failing mid-save: nothing at a new path, the previous
  checkpoint intact at an existing one, no staging folders left."""
  registry = ocp.handlers.local_registry()
  registry.add(FailingHandler)
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  with ctx, pytest.raises(OSError, match='disk full'):
    ocp.save_checkpointables(tmp_path / 'new', {'foo': Foo(1, 'a')})
  assert os.listdir(tmp_path) == []

  ocp.handlers.register_handler(FooHandler)
  ocp.save_checkpointables(tmp_path / 'old', {'foo': Foo(1, 'a'),
                                              'pytree': {'a': 1}})
  with ctx, pytest.raises(OSError, match='disk full'):
    ocp.save_checkpointables(tmp_path / 'old', {'foo': Foo(2, 'b')},
                             overwrite=True)
  assert os.listdir(tmp_path) == ['old']
  assert ocp.load_checkpointables(tmp_path / 'old') == {
      'foo': Foo(1, 'a'), 'pytree': {'a': 1}}
  assert len(_folders(tmp_path / 'old')) == 1


def test_failed_commit_keeps_previous_checkpoint(tmp_path, monkeypatch):
  """The database commit is the switch: if it fails after the new folder
  was moved in, the previous checkpoint (and its folder) is what loads."""
  ocp.handlers.register_handler(FooHandler)
  path = tmp_path / 'c'
  ocp.save_checkpointables(path, {'foo': Foo(1, 'a')})
  from ckptdb import checkpointers  # pylint: disable=g-import-not-at-top

  def failing_save(self, *args, **kwargs):
    raise ckptdb.InternalError('commit failed')

  monkeypatch.setattr(checkpointers.Checkpointer, 'save', failing_save)
  with pytest.raises(ckptdb.InternalError):
    ocp.save_checkpointables(path, {'foo': Foo(2, 'b')}, overwrite=True)
  monkeypatch.undo()
  assert ocp.load_checkpointables(path)['foo'] == Foo(1, 'a')
  assert len(_folders(path)) == 1


def test_changed_folder_is_corruption(tmp_path):
  """The commit records every file's size and SHA-256: a changed file is a
  CorruptionError on load, a missing folder a FileNotFoundError."""
  ocp.handlers.register_handler(FooHandler)
  path = tmp_path / 'c'
  ocp.save_checkpointables(path, {'foo': Foo(1, 'a')})
  [folder] = _folders(path)
  f = os.path.join(path, 'ckptdb-checkpointables', folder, 'foo.json')
  with open(f, 'a') as fh:
    fh.write(' ')
  with pytest.raises(ckptdb.CorruptionError, match='foo'):
    ocp.load_checkpointables(path)
  os.remove(f)
  os.rmdir(os.path.dirname(f))
  with pytest.raises(FileNotFoundError):
    ocp.load_checkpointables(path)


def test_async_save_with_handler(tmp_path):
  """save_checkpointables_async: the handler's folder is written before it
  returns; result() waits for the commit."""
  ocp.handlers.register_handler(FooHandler)
  arr = np.arange(4.0)
  response = ocp.save_checkpointables_async(
      tmp_path / 'c', {'foo': Foo(5, 'z'), 'pytree': {'a': arr}})
  arr[:] = -1  # the arrays were copied
  response.result()
  loaded = ocp.load_checkpointables(tmp_path / 'c')
  assert loaded['foo'] == Foo(5, 'z')
  np.testing.assert_array_equal(loaded['pytree']['a'], np.arange(4.0))
  assert sorted(os.listdir(tmp_path)) == ['c']


def test_save_inside_running_event_loop(tmp_path):
  """Handlers are awaited on a loop of their own, also when the caller
  runs in an event loop (a notebook)."""
  ocp.handlers.register_handler(FooHandler)

  async def main():
    ocp.save_checkpointables(tmp_path / 'c', {'foo': Foo(1, 'x')})
    return ocp.load_checkpointables(tmp_path / 'c')['foo']

  assert asyncio.run(main()) == Foo(1, 'x')


def test_registry_rules():
  """registration.py: add() refuses a second entry for a name or an
  unnamed handler type (AlreadyExistsError); get() of a missing name is
  NoEntryError; local_registry includes the global entries unless asked
  not to; register_handler returns the class (a decorator)."""
  registry = ocp.handlers.local_registry()
  assert registry.has('pytree')
  with pytest.raises(ocp.handlers.AlreadyExistsError):
    registry.add(ocp.handlers.PyTreeHandler)
  with pytest.raises(ocp.handlers.AlreadyExistsError):
    registry.add(FooHandler, checkpointable_name='pytree')
  with pytest.raises(ValueError):
    registry.add(FooHandler())
  with pytest.raises(ocp.handlers.NoEntryError):
    registry.get('baz')
  registry.add(FooHandler, checkpointable_name='baz',
               secondary_typestrs=['OldBazHandlerTypestr'])
  assert registry.get('baz') is FooHandler
  assert registry.get_secondary_typestrs(FooHandler) == [
      'OldBazHandlerTypestr']
  empty = ocp.handlers.local_registry(include_global_registry=False)
  assert list(empty.get_all_entries()) == []
  assert ocp.handlers.register_handler(FooHandler) is FooHandler
  assert (FooHandler, None) in ocp.handlers.global_registry().get_all_entries()
  assert ocp.handlers.typestr(FooHandler).endswith('.FooHandler')


def test_resolution_is_last_registered_and_name_first(tmp_path):
  """Resolution (registration.py): a handler scoped to the name wins; else
  the most recently registered handler that can handle the value; a value
  no handler takes is NoEntryError with a local registry."""

  class OtherFooHandler(FooHandler):
    saved = []

    async def save(self, directory, checkpointable):
      OtherFooHandler.saved.append(checkpointable)
      return await super().save(directory, checkpointable)

  registry = ocp.handlers.local_registry()
  registry.add(FooHandler)
  registry.add(OtherFooHandler)
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  with ctx:
    ocp.save_checkpointables(tmp_path / 'a', {'foo': Foo(1, 'a')})
  assert OtherFooHandler.saved == [Foo(1, 'a')]

  registry = ocp.handlers.local_registry()
  registry.add(ocp.handlers.JsonHandler, checkpointable_name='params')
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  with ctx:
    ocp.save_checkpointables(tmp_path / 'b', {'params': {'lr': [1, 2]}})
    with pytest.raises(ocp.handlers.NoEntryError):
      ocp.save_checkpointables(tmp_path / 'c', {'x': object()})
  rec = _checkpointables.read_record(
      os.fspath(tmp_path / 'b'),
      ckptdb.Checkpointer().metadata(tmp_path / 'b').item_metadata)
  assert rec['params']['kind'] == 'json'


def test_load_resolves_by_recorded_typestr(tmp_path):
  """Loading uses the handler type recorded at save time (or one listing
  it among its secondary typestrs) when no handler is scoped to the
  name."""
  ocp.handlers.register_handler(FooHandler)
  ocp.save_checkpointables(tmp_path / 'c', {'foo': Foo(1, 'a')})
  ocp.handlers.global_registry()._registry.remove((FooHandler, None))  # pylint: disable=protected-access

  class NewFooHandler(FooHandler):
    pass

  registry = ocp.handlers.local_registry()
  registry.add(NewFooHandler,
               secondary_typestrs=[ocp.handlers.typestr(FooHandler)])
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  with ctx:
    assert ocp.load_checkpointables(tmp_path / 'c')['foo'] == Foo(1, 'a')
  with pytest.raises(ocp.handlers.NoEntryError):
    ocp.load_checkpointables(tmp_path / 'c')


def test_reserved_name(tmp_path):
  with pytest.raises(ValueError, match='invalid checkpointable name'):
    ocp.save_checkpointables(tmp_path / 'c',
                             {'ckptdb-checkpointables': {'a': 1}})


def test_training_checkpointer_handlers(tmp_path):
  """training.Checkpointer: JSON / proto / pytree handlers map onto items
  of a step; a handler writing its own folder is NotImplementedError (a
  step has no folder)."""
  registry = ocp.handlers.local_registry()
  registry.add(ocp.handlers.JsonHandler, checkpointable_name='config')
  registry.add(FooHandler)
  ctx = ocp.Context()
  ctx.checkpointables.registry = registry
  with ocp.training.Checkpointer(tmp_path / 'run', context=ctx) as ckptr:
    ckptr.save_checkpointables(0, {'pytree': {'a': np.ones(2)},
                                   'config': {'t': (1, 2)}})
    assert ckptr.load_checkpointables(0)['config'] == {'t': [1, 2]}
    with pytest.raises(NotImplementedError, match='save_checkpointables'):
      ckptr.save_checkpointables(1, {'foo': Foo(1, 'a')})


def test_builtin_handlers_called_directly(tmp_path):
  """PyTreeHandler / JsonHandler used directly on a directory, as Orbax's
  (the docs discourage it, but it works)."""
  run = ocp.handlers.run_sync
  d = ocp.handlers.PathAwaitingCreation(ocp.path.Path(tmp_path / 'j'))
  run(lambda: ocp.handlers.JsonHandler().save(d, {'a': [1, 2]}))
  assert json.loads((tmp_path / 'j' / 'data.json').read_text()) == {
      'a': [1, 2]}
  assert run(lambda: ocp.handlers.JsonHandler().load(tmp_path / 'j')) == {
      'a': [1, 2]}
  h = ocp.handlers.PyTreeHandler()
  d = ocp.handlers.PathAwaitingCreation(tmp_path / 'p')
  run(lambda: h.save(d, {'w': np.arange(3)}))
  np.testing.assert_array_equal(run(lambda: h.load(tmp_path / 'p'))['w'],
                                np.arange(3))
  assert run(lambda: h.metadata(tmp_path / 'p'))['w'].shape == (3,)
  assert h.is_handleable({'w': np.ones(2), 's': 'x', 'n': None})
  assert not h.is_handleable(Foo(1, 'a')) or dataclasses.is_dataclass(Foo)
  assert not h.is_handleable(object())
  assert h.is_abstract_handleable({'w': ckptdb.utils.to_shape_dtype_struct(
      np.ones(2))})


def test_proto_handler(tmp_path):
  """A protocol buffer message resolves to ProtoHandler (a database
  item); loading needs the message class, as Orbax's."""
  pytest.importorskip('google.protobuf')
  from google.protobuf import struct_pb2  # pylint: disable=g-import-not-at-top
  msg = struct_pb2.Value(string_value='hello')
  ocp.save_checkpointables(tmp_path / 'c', {'proto': msg,
                                            'pytree': {'a': 1}})
  loaded = ocp.load_checkpointables(tmp_path / 'c',
                                    {'proto': struct_pb2.Value})
  assert loaded['proto'] == msg
  assert _folders(tmp_path / 'c') == []


def test_partial_save_and_finalize(tmp_path):
  """partial/saving.py's workflow: saves add leaves to <path>.partial_save,
  finalize renames it to path; replacing a leaf is refused; finalize
  twice is FileExistsError, without a partial save FileNotFoundError."""
  path = tmp_path / 'ckpt'
  ocp.partial.save(path, {'layer1': np.ones(2), 'step': 1},
                   custom_metadata={'a': 1})
  assert os.path.isdir(str(path) + '.partial_save')
  assert not os.path.exists(path)
  response = ocp.partial.save_async(path, {'layer2': np.zeros(3),
                                           'metrics': {'loss': 0.5}},
                                    custom_metadata={'b': 2})
  response.result()
  with pytest.raises(ValueError, match='step'):
    ocp.partial.save(path, {'step': 2})
  ocp.partial.finalize(path)
  assert sorted(os.listdir(tmp_path)) == ['ckpt']
  loaded = ocp.load(path)
  assert loaded['step'] == 1 and loaded['metrics'] == {'loss': 0.5}
  np.testing.assert_array_equal(loaded['layer2'], np.zeros(3))
  assert ocp.metadata(path).custom_metadata == {'a': 1, 'b': 2}
  with pytest.raises(FileExistsError):
    ocp.partial.finalize(path)
  with pytest.raises(FileExistsError):
    ocp.partial.save(path, {'x': 1})
  with pytest.raises(FileNotFoundError):
    ocp.partial.finalize(tmp_path / 'other')


def test_tree_merge():
  """structure_utils.merge_trees's docstring examples."""
  tree1 = {'a': 1, 'b': {'c': 2}}
  tree2 = {'d': 3, 'b': {'e': 4}}
  assert ocp.tree.merge(tree1, tree2) == {'a': 1, 'b': {'c': 2, 'e': 4},
                                          'd': 3}
  assert ocp.tree.merge(tree1, {'a': 100}, overwrite=True) == {
      'a': 100, 'b': {'c': 2}}
  with pytest.raises(ValueError):
    ocp.tree.merge(tree1, {'a': 100})
  assert ocp.tree.merge([1, None], [None, 2]) == [1, 2]
  with pytest.raises(ValueError):
    ocp.tree.merge([1], [None, 2])


def test_step_name_formats(tmp_path):
  """path/step.py: standard_name_format's naming examples; find_all /
  find_step see committed checkpoints only; composite formats read
  several namings."""
  sf = ocp.path.step.standard_name_format
  assert sf().build_name(23) == '23'
  assert sf(step_format_fixed_length=4).build_name(23) == '0023'
  assert sf(step_prefix='step').build_name(23) == 'step_23'
  assert sf(step_prefix='step', step_format_fixed_length=4).build_name(
      23) == 'step_0023'
  fmt = sf(step_prefix='step', step_format_fixed_length=4)
  for step in (1, 2):
    ocp.save(tmp_path / fmt.build_name(step), {'step': step})
  os.makedirs(tmp_path / 'step_0003')  # not a committed checkpoint
  ocp.save(tmp_path / '7', {'step': 7})
  assert [m.step for m in fmt.find_all(tmp_path)] == [1, 2]
  assert fmt.find_step(tmp_path, 2).path == tmp_path / 'step_0002'
  with pytest.raises(ValueError):
    fmt.find_step(tmp_path, 3)
  both = ocp.path.step.composite_name_format(fmt, [fmt, sf()])
  assert [m.step for m in both.find_all(tmp_path)] == [1, 2, 7]
  assert both.build_name(5) == 'step_0005'
  with pytest.raises(ValueError):
    ocp.path.step.composite_name_format(sf(), [fmt])


def test_arrays_path_errors():
  """ocp.arrays.to_shape_dtype_struct, ocp.path types,
  ocp.errors.InvalidLayoutError (a ValueError)."""
  s = ocp.arrays.to_shape_dtype_struct(np.ones((2, 3), np.float32))
  assert s.shape == (2, 3) and s.dtype == np.float32
  assert issubclass(ocp.errors.InvalidLayoutError, ValueError)
  p = ocp.handlers.PathAwaitingCreation(ocp.path.Path('/x')) / 'y'
  assert isinstance(p, ocp.path.PathAwaitingCreation)
  assert os.fspath(p.path) == '/x/y'


def test_invalid_layout(tmp_path):
  """Loading a folder that is no checkpoint: InvalidLayoutError (as
  Orbax's); a missing path stays FileNotFoundError."""
  (tmp_path / 'junk').mkdir()
  (tmp_path / 'junk' / 'file').write_text('x')
  with pytest.raises(ocp.errors.InvalidLayoutError):
    ocp.load(tmp_path / 'junk')
  with pytest.raises(ocp.errors.InvalidLayoutError):
    ocp.metadata(tmp_path / 'junk')
  with pytest.raises(FileNotFoundError):
    ocp.load(tmp_path / 'missing')


def test_multihost_single_process():
  """ocp.multihost with one process: index 0 of 1, primary, the barrier
  returns at once."""
  assert ocp.multihost.process_index() == 0
  assert ocp.multihost.process_count() == 1
  assert ocp.multihost.is_primary_host(0)
  assert ocp.multihost.is_primary_host(None)
  assert not ocp.multihost.is_primary_host(1)
  assert not ocp.multihost.is_pathways_backend()
  asyncio.run(ocp.multihost.sync_global_processes('k', operation_id='op'))
