"""Orbax v1's ocp.handlers: CheckpointableHandlers and their registries.

    class FooHandler(ocp.handlers.CheckpointableHandler[Foo, None]):
      async def save(self, directory, checkpointable): ...   # a folder
      async def load(self, directory, abstract_checkpointable=None): ...
      async def metadata(self, directory): ...
      def is_handleable(self, checkpointable): return isinstance(checkpointable, Foo)
      def is_abstract_handleable(self, abstract): return None

    ocp.handlers.register_handler(FooHandler)
    ocp.save_checkpointables(path, {'pytree': state, 'foo': Foo(...)})

Resolution follows Orbax (registration.py): a handler registered for the
checkpointable's name first (a StatefulCheckpointable's own handler before
that), else the most recently registered handler whose is_handleable /
is_abstract_handleable says yes; for loading also the handler type
recorded at save time.

How ckptdb stores a checkpointable depends on the handler resolved:
PyTreeHandler: an item of the checkpoint database (as ocp.save always did);
JsonHandler: a JSON item (ckptdb.args.JsonSave); ProtoHandler: a proto item
(ckptdb.args.ProtoSave); any other handler (yours, StatefulCheckpointable):
the handler writes a folder of its own, <path>/ckptdb-checkpointables/
<name>-<token>/, before the database commit, and the commit records the
folder, the handler type and each file's size and SHA-256 (see
ckptdb.v1._checkpointables for what is and is not atomic). Handlers are
called with paths of FileOptions.path_class. The handlers' own save / load
/ metadata, called directly with a directory, write and read that folder
(PyTreeHandler: a ckptdb checkpoint database there; JsonHandler: a JSON
file; ProtoHandler: a text-format proto file), as Orbax's do.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import json
import os
import typing
from typing import (Any, Awaitable, Callable, Dict, Generic, List, Optional,
                    Protocol, Sequence, Tuple, Type, TypeVar,
                    runtime_checkable)

import numpy as np

from ckptdb import _tree

__all__ = [
    'AbstractCheckpointable', 'AlreadyExistsError', 'Checkpointable',
    'CheckpointableHandler', 'CheckpointableHandlerRegistry', 'JsonHandler',
    'NoEntryError', 'NotHandleableError', 'ProtoHandler', 'PyTreeHandler',
    'StatefulCheckpointable', 'StatefulCheckpointableHandler',
    'global_registry', 'local_registry', 'register_handler', 'typestr',
]


class Checkpointable:
  """A logical piece of a checkpoint (model state, dataset iterator, ...);
  for typing only (as Orbax's)."""


class AbstractCheckpointable:
  """The abstract form of a Checkpointable (for typing only)."""


_C = TypeVar('_C')
_A = TypeVar('_A')


@runtime_checkable
class StatefulCheckpointable(Protocol):
  """An object that saves itself to and loads itself from a directory."""

  async def save(self, directory: Any) -> Awaitable[None]:
    ...

  async def load(self, directory: Any) -> Awaitable[None]:
    ...


class CheckpointableHandler(Protocol[_C, _A]):
  """Orbax's protocol: save(directory, checkpointable), load(directory,
  abstract_checkpointable=None), metadata(directory), is_handleable(x),
  is_abstract_handleable(abstract). save / load may be `async def` and may
  return an awaitable (the background part), as in Orbax; plain functions
  work too. `directory` for save is a PathAwaitingCreation (use
  `await directory.await_creation()` or `directory.path`)."""

  async def save(self, directory: Any, checkpointable: _C) -> Awaitable[None]:
    ...

  async def load(self, directory: Any,
                 abstract_checkpointable: Optional[_A] = None
                ) -> Awaitable[_C]:
    ...

  async def metadata(self, directory: Any) -> _A:
    ...

  def is_handleable(self, checkpointable: Any) -> bool:
    ...

  def is_abstract_handleable(self, abstract_checkpointable: Any
                            ) -> Optional[bool]:
    ...


def typestr(handler_cls: type) -> str:
  """A name for the handler class that uniquely identifies it."""
  return f'{handler_cls.__module__}.{handler_cls.__qualname__}'


# ---- running handlers -------------------------------------------------------


def run_sync(fn: Callable[[], Any]) -> Any:
  """Calls fn() and awaits what it returns until it is not awaitable (an
  Orbax handler's save returns a coroutine whose result is the background
  awaitable). Runs on a fresh event loop (in another thread if this one has
  a running loop)."""

  async def main() -> Any:
    result = fn()
    while inspect.isawaitable(result):
      result = await result
    return result

  try:
    asyncio.get_running_loop()
  except RuntimeError:
    return asyncio.run(main())
  with concurrent.futures.ThreadPoolExecutor(1) as pool:
    return pool.submit(asyncio.run, main()).result()


class PathAwaitingCreation:
  """Orbax's PathAwaitingCreation: `.path`, `/`, `await await_creation()`
  (creates the folder if needed and returns the path)."""

  def __init__(self, path: Any):
    self._path = path

  def __truediv__(self, other: Any) -> 'PathAwaitingCreation':
    return PathAwaitingCreation(self._path / other)

  @property
  def path(self) -> Any:
    return self._path

  @property
  def name(self) -> str:
    return self._path.name

  async def await_creation(self) -> Any:
    os.makedirs(os.fspath(self._path), exist_ok=True)
    return self._path

  def __fspath__(self) -> str:
    return os.fspath(self._path)

  def __repr__(self) -> str:
    return f'PathAwaitingCreation({self._path!r})'


def _as_path(directory: Any) -> Any:
  if isinstance(directory, PathAwaitingCreation):
    os.makedirs(os.fspath(directory.path), exist_ok=True)
    return directory.path
  if hasattr(directory, 'await_creation') and hasattr(directory, 'path'):
    return directory.path
  return directory


# ---- ckptdb's built-in handlers ---------------------------------------------

_LEAF_TYPES = (np.ndarray, np.generic, int, float, bool, complex, str, bytes)


def _leaf_ok(x: Any, abstract: bool) -> bool:
  if x is None or isinstance(x, _LEAF_TYPES) or _tree.is_jax_array(x):
    return True
  if abstract and (x is Ellipsis or isinstance(x, type) or
                   (hasattr(x, 'shape') and hasattr(x, 'dtype'))):
    return True
  return False


def _tree_ok(x: Any, abstract: bool) -> bool:
  if isinstance(x, StatefulCheckpointable) and not isinstance(x, type):
    return False
  node = _tree.flatten_one_level(x)
  if node is None:
    return _leaf_ok(x, abstract)
  return all(_tree_ok(c, abstract) for c in node.children)


class PyTreeHandler(CheckpointableHandler[Any, Any]):
  """A pytree of arrays, scalars and strings: in save_checkpointables an
  item of the checkpoint database (ckptdb's pytree path, with the Context's
  array options). Called directly, save / load / metadata use a ckptdb
  checkpoint database at `directory`."""

  def __init__(self, *, context: Any = None, **unused: Any):
    from ckptdb import _ignored  # pylint: disable=g-import-not-at-top
    self._context = context
    for name in sorted(unused):  # Orbax's leaf_handler_registry, ...
      _ignored.warn_once(
          f'PyTreeHandler({name}=...)',
          'ckptdb stores pytree leaves with its own types; the option has no '
          'effect', stacklevel=3)

  async def save(self, directory: Any, checkpointable: Any) -> Any:
    from ckptdb import v1  # pylint: disable=g-import-not-at-top
    path = _as_path(directory)
    if os.path.isdir(os.fspath(path)) and not os.listdir(os.fspath(path)):
      os.rmdir(os.fspath(path))  # ckptdb creates the database folder
    with v1.Context(self._context or v1.get_context()):
      v1.save(path, checkpointable)

  async def load(self, directory: Any,
                 abstract_checkpointable: Any = None) -> Any:
    from ckptdb import v1  # pylint: disable=g-import-not-at-top
    with v1.Context(self._context or v1.get_context()):
      return v1.load(directory, abstract_checkpointable)

  async def metadata(self, directory: Any) -> Any:
    from ckptdb import v1  # pylint: disable=g-import-not-at-top
    return v1.metadata(directory).metadata

  def is_handleable(self, checkpointable: Any) -> bool:
    return _tree_ok(checkpointable, abstract=False)

  def is_abstract_handleable(self, abstract_checkpointable: Any) -> bool:
    return _tree_ok(abstract_checkpointable, abstract=True)


def _json_ok(x: Any) -> bool:
  try:
    json.loads(json.dumps(x))
    return True
  except Exception:  # pylint: disable=broad-except
    return False


class JsonHandler(CheckpointableHandler[Any, None]):
  """A JSON value: in save_checkpointables a JSON item of the database
  (ckptdb.args.JsonSave: comes back exactly as JSON gives it). Called
  directly, writes / reads `directory/<filename>` (default data.json; also
  reads data.json and metadata), as Orbax's."""

  def __init__(self, filename: Optional[str] = None):
    self._filenames = [filename or 'data.json', 'data.json', 'metadata']
    self._filename = self._filenames[0]

  async def save(self, directory: Any, checkpointable: Any) -> Any:
    path = _as_path(directory)
    os.makedirs(os.fspath(path), exist_ok=True)
    with open(os.path.join(os.fspath(path), self._filename), 'w') as f:
      f.write(json.dumps(checkpointable))

  async def load(self, directory: Any,
                 abstract_checkpointable: None = None) -> Any:
    for name in self._filenames:
      p = os.path.join(os.fspath(directory), name)
      if os.path.exists(p):
        with open(p) as f:
          return json.loads(f.read())
    raise FileNotFoundError(
        f'Unable to parse JSON file in {directory}. Recognized filenames '
        f'are: {self._filenames}')

  async def metadata(self, directory: Any) -> None:
    return None

  def is_handleable(self, checkpointable: Any) -> bool:
    return _json_ok(checkpointable)

  def is_abstract_handleable(self, abstract_checkpointable: Any
                            ) -> Optional[bool]:
    return None


def _is_message(x: Any) -> bool:
  try:
    from google.protobuf import message  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  return isinstance(x, message.Message)


class ProtoHandler(CheckpointableHandler[Any, Any]):
  """A protocol buffer message: in save_checkpointables a proto item of the
  database (ckptdb.args.ProtoSave); load needs the message class as the
  abstract checkpointable (as Orbax's). Called directly, writes / reads
  `directory/<filename>` in text format."""

  def __init__(self, filename: str = 'proto.pbtxt'):
    self._filename = filename

  async def save(self, directory: Any, checkpointable: Any) -> Any:
    from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
    path = _as_path(directory)
    os.makedirs(os.fspath(path), exist_ok=True)
    with open(os.path.join(os.fspath(path), self._filename), 'w') as f:
      f.write(text_format.MessageToString(checkpointable))

  async def load(self, directory: Any,
                 abstract_checkpointable: Any = None) -> Any:
    from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
    if abstract_checkpointable is None:
      raise ValueError('ProtoHandler.load needs the message class as '
                       'abstract_checkpointable')
    with open(os.path.join(os.fspath(directory), self._filename)) as f:
      return text_format.Parse(f.read(), abstract_checkpointable())

  async def metadata(self, directory: Any) -> Any:
    return None

  def is_handleable(self, checkpointable: Any) -> bool:
    return _is_message(checkpointable)

  def is_abstract_handleable(self, abstract_checkpointable: Any) -> bool:
    try:
      from google.protobuf import message  # pylint: disable=g-import-not-at-top
    except ImportError:
      return False
    return (isinstance(abstract_checkpointable, type) and
            issubclass(abstract_checkpointable, message.Message))


class StatefulCheckpointableHandler(
    CheckpointableHandler[StatefulCheckpointable, StatefulCheckpointable]):
  """Saves / loads a StatefulCheckpointable by its own save / load (into
  its folder); load needs the instance to fill (as Orbax's)."""

  async def save(self, directory: Any, checkpointable: Any) -> Any:
    return await checkpointable.save(directory)

  async def load(self, directory: Any,
                 abstract_checkpointable: Any = None) -> Any:
    if abstract_checkpointable is None:
      raise ValueError('To restore a `StatefulCheckpointable`, you must pass '
                       'an instance of the object.')
    background = await abstract_checkpointable.load(directory)

    async def finish() -> Any:
      if inspect.isawaitable(background):
        await background
      return abstract_checkpointable

    return finish()

  async def metadata(self, directory: Any) -> Any:
    raise NotImplementedError('Metadata retrieval is not supported for '
                              'objects implementing `StatefulCheckpointable`.')

  def is_handleable(self, checkpointable: Any) -> bool:
    return isinstance(checkpointable, StatefulCheckpointable)

  def is_abstract_handleable(self, abstract_checkpointable: Any) -> bool:
    return isinstance(abstract_checkpointable, StatefulCheckpointable)


# ---- registries -------------------------------------------------------------

RegistryEntry = Tuple[type, Optional[str]]


class AlreadyExistsError(ValueError):
  """An entry already exists in the registry."""


class NoEntryError(KeyError):
  """No entry exists in the registry."""


class NotHandleableError(ValueError):
  """A checkpointable is not handleable by a handler."""


class CheckpointableHandlerRegistry:
  """Orbax's registry: add(handler_type, *, checkpointable_name=None,
  secondary_typestrs=None), get(name), has(name), get_all_entries(),
  get_secondary_typestrs(handler_type)."""

  def __init__(self, other_registry: Any = None):
    self._registry: List[RegistryEntry] = []
    self._secondary: Dict[type, Sequence[str]] = {}
    if other_registry:
      add_all(self, other_registry)

  def add(self, handler_type: type, *,
          checkpointable_name: Optional[str] = None,
          secondary_typestrs: Optional[Sequence[str]] = None
         ) -> 'CheckpointableHandlerRegistry':
    if not isinstance(handler_type, type):
      raise ValueError(
          f'The `handler_type` must be a type, but got {handler_type}.')
    if checkpointable_name:
      if self.has(checkpointable_name):
        raise AlreadyExistsError(
            f'Entry for checkpointable_name={checkpointable_name} already '
            'exists in the registry.')
    elif handler_type in [h for h, _ in self._registry]:
      raise AlreadyExistsError(
          f'Handler type {handler_type} already exists in the registry.')
    self._registry.append((handler_type, checkpointable_name))
    if secondary_typestrs is not None:
      self._secondary[handler_type] = secondary_typestrs
    return self

  def get(self, checkpointable_name: str) -> type:
    for handler, name in self._registry:
      if name == checkpointable_name:
        return handler
    raise NoEntryError(f'No entry for checkpointable_name='
                       f'{checkpointable_name} in the registry.')

  def has(self, checkpointable_name: str) -> bool:
    return any(name == checkpointable_name for _, name in self._registry)

  def get_all_entries(self) -> Sequence[RegistryEntry]:
    return self._registry

  def get_secondary_typestrs(self, handler_type: type) -> Sequence[str]:
    return self._secondary.get(handler_type, [])

  def __repr__(self) -> str:
    return f'CheckpointableHandlerRegistry({self._registry})'


def add_all(registry: Any, other_registry: Any) -> Any:
  for handler, name in other_registry.get_all_entries():
    registry.add(handler, checkpointable_name=name,
                 secondary_typestrs=other_registry.get_secondary_typestrs(
                     handler))
  return registry


_GLOBAL_REGISTRY = CheckpointableHandlerRegistry()


def global_registry() -> CheckpointableHandlerRegistry:
  """The global registry (register_handler adds to it)."""
  return _GLOBAL_REGISTRY


def local_registry(other_registry: Any = None, *,
                   include_global_registry: bool = True
                  ) -> CheckpointableHandlerRegistry:
  """A new registry: the global registry's entries (unless
  include_global_registry=False), then other_registry's. Use it with
  `ctx.checkpointables.registry = registry`."""
  registry = CheckpointableHandlerRegistry()
  if include_global_registry:
    add_all(registry, global_registry())
  if other_registry:
    add_all(registry, other_registry)
  return registry


_H = TypeVar('_H', bound=type)


def register_handler(cls: _H, *, checkpointable_name: Optional[str] = None,
                     secondary_typestrs: Optional[Sequence[str]] = None) -> _H:
  """Registers a handler class globally (usable as a decorator)."""
  _GLOBAL_REGISTRY.add(cls, checkpointable_name=checkpointable_name,
                       secondary_typestrs=secondary_typestrs)
  return cls


def _construct(name: Optional[str], handler_type: type) -> Any:
  try:
    return handler_type()
  except TypeError as e:
    raise ValueError(
        f'The CheckpointableHandler resolved for checkpointable={name} could '
        'not be default-constructed. Please ensure the object is '
        'default-constructible or provide a concrete instance.') from e


def _possible(registry: Any, handleable: Callable[[Any, Any], Any],
              checkpointable: Any) -> List[Any]:
  out = []
  for handler_type, name in registry.get_all_entries():
    if name is not None:
      continue
    handler = _construct(name, handler_type)
    if checkpointable is None or handleable(handler, checkpointable):
      out.append(handler)
  return out


def resolve_handler_for_save(registry: Any, checkpointable: Any, *,
                             name: str) -> Any:
  """Orbax's resolution for saving (see the module docstring)."""
  if checkpointable is None:
    raise ValueError('checkpointable must not be None for saving.')
  possible = _possible(registry, lambda h, c: h.is_handleable(c),
                       checkpointable)
  last = possible[-1] if possible else None
  if isinstance(checkpointable, StatefulCheckpointable) and last:
    return last
  if registry.has(name):
    return _construct(name, registry.get(name))
  if last:
    return last
  raise NoEntryError(
      f'Could not identify a valid handler for the checkpointable: "{name}" '
      f'and checkpointable type={type(checkpointable)}. Make sure to '
      'register a `CheckpointableHandler` for the object using '
      '`register_handler`, or by specifying a local registry '
      '(`CheckpointablesOptions`). The available handlers are: '
      f'{[h for h, _ in registry.get_all_entries()]}')


def resolve_handler_for_load(registry: Any, abstract_checkpointable: Any, *,
                             name: str,
                             handler_typestr: Optional[str] = None) -> Any:
  """Orbax's resolution for loading: the handler registered for `name`,
  the one whose type (or secondary typestr) was recorded at save time, the
  most recent one that can handle the abstract checkpointable."""
  explicit = (_construct(name, registry.get(name)) if registry.has(name)
              else None)
  by_typestr = None
  if handler_typestr:
    for h_type, h_name in reversed(list(registry.get_all_entries())):
      if (typestr(h_type) == handler_typestr or
          handler_typestr in registry.get_secondary_typestrs(h_type)):
        by_typestr = _construct(h_name, h_type)
        break
  abstract = abstract_checkpointable
  if (abstract is not None and isinstance(abstract, StatefulCheckpointable)
      and by_typestr and by_typestr.is_abstract_handleable(abstract)):
    return by_typestr
  if explicit and (abstract is None or
                   explicit.is_abstract_handleable(abstract)):
    return explicit
  if by_typestr and (abstract is None or
                     by_typestr.is_abstract_handleable(abstract)):
    return by_typestr
  if abstract is not None:
    possible = _possible(registry, lambda h, c: h.is_abstract_handleable(c),
                         abstract)
    if possible:
      return possible[-1]
  if explicit:
    return explicit
  raise NoEntryError(
      f'No entry for checkpointable={name} in the registry, using '
      f'handler_typestr={handler_typestr} and abstract_checkpointable='
      f'{abstract}. Registry contents: {registry.get_all_entries()}')


# Orbax's global registration order (global_registration.py); the most
# recently registered capable handler wins. ckptdb's pytree name is 'pytree'.
for _entry in (
    (ProtoHandler, None, [
        'orbax.checkpoint._src.handlers.proto_checkpoint_handler.'
        'ProtoCheckpointHandler']),
    (JsonHandler, None, [
        'orbax.checkpoint._src.handlers.json_checkpoint_handler.'
        'JsonCheckpointHandler']),
    (StatefulCheckpointableHandler, None, None),
    (PyTreeHandler, None, [
        'orbax.checkpoint._src.handlers.pytree_checkpoint_handler.'
        'PyTreeCheckpointHandler',
        'orbax.checkpoint._src.handlers.standard_checkpoint_handler.'
        'StandardCheckpointHandler']),
    (PyTreeHandler, 'pytree', None),
):
  _GLOBAL_REGISTRY.add(_entry[0], checkpointable_name=_entry[1],
                       secondary_typestrs=_entry[2])
del _entry

if typing.TYPE_CHECKING:
  Checkpointable = Any  # type: ignore  # noqa: F811
  AbstractCheckpointable = Any  # type: ignore  # noqa: F811
