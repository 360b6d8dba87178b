"""Orbax v1's Context (ocp.Context) and how ckptdb applies its options."""

from __future__ import annotations

import contextvars
import copy
import dataclasses
from typing import Any, Dict, List, Optional, Tuple

from ckptdb import _ignored
from ckptdb import _tree
from ckptdb import _types
from ckptdb.v1 import options as options_lib

_CONTEXT: contextvars.ContextVar = contextvars.ContextVar(
    'ckptdb_v1_context', default=None)


def get_context(default: Optional['Context'] = None) -> 'Context':
  """The active Context (innermost `with ctx:`), else `default`, else a
  Context with default options (as Orbax's)."""
  active = _CONTEXT.get()
  if active is not None:
    return active
  return default if default is not None else Context()


def _get_option(value: Any, parent: Any, factory: Any) -> Any:
  if value is not None:
    return copy.deepcopy(value)
  if parent is not None:
    return copy.deepcopy(parent)
  return factory()


class Context:
  """Options for the checkpoint operations run inside `with ctx:`.

      ctx = ocp.Context()
      ctx.asynchronous.timeout_secs = 600
      with ctx:
        ocp.save(path, state)

  Context(parent) copies the parent's options (changing one does not change
  the other). Keyword arguments (pytree_options=..., async_options=...) are
  Orbax's deprecated way and work too. Inside `with ctx:` its options cannot
  be changed (RuntimeError). As Orbax's, the active context is a
  contextvars.ContextVar: threads started by the caller do not see it.
  A training.Checkpointer(context=ctx) copies ctx and uses it for all its
  operations. See ckptdb.v1.options for what each option does in ckptdb.
  """

  def __init__(self, context: Optional['Context'] = None, *,
               pytree_options: Any = None, array_options: Any = None,
               async_options: Any = None, multiprocessing_options: Any = None,
               file_options: Any = None, checkpointables_options: Any = None,
               pathways_options: Any = None, checkpoint_layout: Any = None,
               deletion_options: Any = None, memory_options: Any = None,
               safetensors_options: Any = None,
               atomicity_options: Any = None):
    p = context
    o = options_lib
    self._pytree_options = _get_option(
        pytree_options, p and p.pytree, o.PyTreeOptions)
    self._array_options = _get_option(
        array_options, p and p.array, o.ArrayOptions)
    self._async_options = _get_option(
        async_options, p and p.asynchronous, o.AsyncOptions)
    self._multiprocessing_options = _get_option(
        multiprocessing_options, p and p.multiprocessing,
        o.MultiprocessingOptions)
    self._file_options = _get_option(
        file_options, p and p.file, o.FileOptions)
    self._checkpointables_options = _get_option(
        checkpointables_options, p and p.checkpointables,
        o.CheckpointablesOptions)
    self._pathways_options = _get_option(
        pathways_options, p and p.pathways, o.PathwaysOptions)
    self._checkpoint_layout = _get_option(
        o.CheckpointLayout(checkpoint_layout)
        if checkpoint_layout is not None else None,
        p and p.checkpoint_layout, lambda: o.CheckpointLayout.ORBAX)
    self._deletion_options = _get_option(
        deletion_options, p and p.deletion, o.DeletionOptions)
    self._memory_options = _get_option(
        memory_options, p and p.memory, o.MemoryOptions)
    self._safetensors_options = _get_option(
        safetensors_options, p and p.safetensors, o.SafetensorsOptions)
    self._atomicity_options = _get_option(
        atomicity_options, p and p.atomicity, o.AtomicityOptions)
    self._tokens: List[Tuple[Any, Any]] = []

  # Orbax's short names and legacy *_options aliases.
  array = property(lambda self: self._array_options)
  asynchronous = property(lambda self: self._async_options)
  pytree = property(lambda self: self._pytree_options)
  file = property(lambda self: self._file_options)
  multiprocessing = property(lambda self: self._multiprocessing_options)
  checkpointables = property(lambda self: self._checkpointables_options)
  pathways = property(lambda self: self._pathways_options)
  deletion = property(lambda self: self._deletion_options)
  memory = property(lambda self: self._memory_options)
  safetensors = property(lambda self: self._safetensors_options)
  atomicity = property(lambda self: self._atomicity_options)
  pytree_options = pytree
  array_options = array
  async_options = asynchronous
  multiprocessing_options = multiprocessing
  file_options = file
  checkpointables_options = checkpointables
  pathways_options = pathways
  deletion_options = deletion
  memory_options = memory
  safetensors_options = safetensors

  @property
  def checkpoint_layout(self) -> options_lib.CheckpointLayout:
    return self._checkpoint_layout

  @checkpoint_layout.setter
  def checkpoint_layout(self, value: Any) -> None:
    if id(self) in options_lib.FROZEN_IDS.get():
      raise RuntimeError(
          'Cannot mutate an active Context. Ensure all configuration options'
          ' are set before entering the `with` context block.')
    self._checkpoint_layout = options_lib.CheckpointLayout(value)

  def __enter__(self) -> 'Context':
    frozen = options_lib.FROZEN_IDS.get() | _collect_ids(self)
    self._tokens.append((options_lib.FROZEN_IDS.set(frozen),
                         _CONTEXT.set(self)))
    return self

  def __exit__(self, *exc: Any) -> None:
    guard_token, token = self._tokens.pop()
    _CONTEXT.reset(token)
    options_lib.FROZEN_IDS.reset(guard_token)

  def __repr__(self) -> str:
    return (f'Context(asynchronous={self.asynchronous!r}, '
            f'file={self.file!r}, pytree={self.pytree!r}, '
            f'array={self.array!r}, '
            f'checkpoint_layout={self.checkpoint_layout})')


def _collect_ids(ctx: Context) -> frozenset:
  ids = {id(ctx)}

  def traverse(obj: Any) -> None:
    if id(obj) in ids:
      return
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
      ids.add(id(obj))
      for field in dataclasses.fields(obj):
        traverse(getattr(obj, field.name))

  for name, obj in vars(ctx).items():
    if name != '_tokens':
      traverse(obj)
  return frozenset(ids)


# ---- which options apply ----------------------------------------------------

_LAYOUT = ("ckptdb stores arrays as chunks in its database, not in Orbax's "
           'OCDBT/Zarr files')
_REPLICA = 'one process writes a ckptdb database: there are no replicas'
# Options that only choose Orbax's file layout or device transfers: accepted,
# warned about once.
_WARNED = {
    'array.saving.use_ocdbt': _LAYOUT,
    'array.saving.use_zarr3': _LAYOUT,
    'array.saving.ocdbt_target_data_file_size':
        _LAYOUT + '; RocksDB sizes its files',
    'array.saving.enable_write_sharding_file': _LAYOUT,
    'array.saving.array_metadata_store':
        'array metadata is kept in the database',
    'array.saving.enable_pinned_host_transfer':
        'arrays are host numpy arrays: there is no device-to-host transfer',
    'array.saving.enable_post_merge_validation':
        'the database checksums its records; there is no merge step',
    'array.saving.use_replica_parallel': _REPLICA,
    'array.saving.min_slice_bytes_for_replica_parallel': _REPLICA,
    'array.saving.max_replicas_for_replica_parallel': _REPLICA,
    'array.saving.enable_replica_parallel_separate_folder': _REPLICA,
    'array.saving.storage_options.chunk_byte_size':
        'ckptdb chooses its own chunks (content-addressed, deduplicated)',
    'array.saving.storage_options.shard_axes':
        'ckptdb chooses its own chunks (content-addressed, deduplicated)',
    'array.loading.load_and_broadcast_options': _REPLICA,
}
# Options ckptdb's behaviour already satisfies, whatever their value.
_ACCEPTED = {
    'asynchronous.create_directories_asynchronously',
    'array.saving.use_compression',
    'array.loading.raise_array_data_missing_error',
    'atomicity.mode', 'atomicity.allow_legacy_atomic_rename',
    'asynchronous.timeout_secs', 'asynchronous.post_finalization_callback',
    'file.path_class', 'pytree.loading.partial_load',
    'array.saving.storage_options.dtype',
    'array.saving.scoped_storage_options_creator',
    'array.loading.enable_padding_and_truncation',
    'checkpointables.registry',
}
_WHY_NOT = {
    'file.path_permission_mode':
        'database files get the permissions the umask gives; set the umask '
        'or chmod the directory',
    'multiprocessing': 'one process writes a ckptdb database; others '
                       'follow it (docs/python.md, "Many processes")',
    'array.loading.use_load_and_broadcast': _REPLICA,
    'pathways': 'ckptdb has no Pathways support',
    'deletion': 'a deleted step is removed from the database in one commit '
                '(nothing is moved aside)',
    'memory': 'ckptdb has no byte limiter (tune with ckptdb.StoreTuning)',
    'safetensors': 'ckptdb.v1 does not read safetensors checkpoints',
    'pytree.saving.pytree_metadata_options':
        'ckptdb does not save rich-type metadata (without an abstract tree, '
        'custom nodes load as dicts; give one to get your types back)',
}


def _non_defaults(obj: Any, prefix: str, out: Dict[str, Any]) -> None:
  default = type(obj)()
  for field in dataclasses.fields(obj):
    value = getattr(obj, field.name)
    name = f'{prefix}.{field.name}'
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
      _non_defaults(value, name, out)
    elif value is not getattr(default, field.name) and not (
        _equal(value, getattr(default, field.name))):
      out[name] = value


def _equal(a: Any, b: Any) -> bool:
  try:
    return bool(a == b)
  except Exception:  # pylint: disable=broad-except
    return False


def _single_process(m: options_lib.MultiprocessingOptions) -> bool:
  return (m.primary_host in (0, None) and
          m.active_processes in (None, {0}) and
          m.barrier_sync_key_prefix is None)


def check(ctx: Context, operation: str) -> None:
  """Raises NotImplementedError for an option of ctx ckptdb cannot apply;
  warns once for those that only concern Orbax's layout."""
  if ctx.checkpoint_layout != options_lib.CheckpointLayout.ORBAX:
    raise NotImplementedError(
        f'ckptdb.v1.{operation}: checkpoint_layout '
        f'{ctx.checkpoint_layout.value!r} is not supported: a ckptdb.v1 '
        'checkpoint is a ckptdb database (import safetensors with the '
        'ckptdb import tool)')
  changed: Dict[str, Any] = {}
  for name in ('pytree', 'array', 'asynchronous', 'file', 'checkpointables',
               'pathways', 'deletion', 'memory', 'safetensors', 'atomicity'):
    _non_defaults(getattr(ctx, name), name, changed)
  if not _single_process(ctx.multiprocessing):
    _non_defaults(ctx.multiprocessing, 'multiprocessing', changed)
  for name, value in changed.items():
    if name in _ACCEPTED:
      continue
    warned = next((k for k in _WARNED if name.startswith(k)), None)
    if warned is not None:
      _ignored.warn_once(f'v1 Context option {warned}', _WARNED[warned],
                         stacklevel=4)
      continue
    why = next((v for k, v in _WHY_NOT.items()
                if name == k or name.startswith(k + '.')), None)
    raise NotImplementedError(
        f'ckptdb.v1.{operation}: Context option {name}={value!r} cannot '
        f'apply to a ckptdb checkpoint: {why or "not supported by ckptdb"}')


# ---- applying options -------------------------------------------------------


class _Key:
  """A key path entry like jax.tree_util's (str() as jax's keystr)."""
  __slots__ = ()

  def __eq__(self, other: Any) -> bool:
    return type(self) is type(other) and self._v() == other._v()

  def __hash__(self) -> int:
    return hash((type(self).__name__, self._v()))


class DictKey(_Key):
  __slots__ = ('key',)

  def __init__(self, key: Any):
    self.key = key

  def _v(self) -> Any:
    return self.key

  def __str__(self) -> str:
    return f'[{self.key!r}]'

  __repr__ = lambda self: f'DictKey(key={self.key!r})'


class SequenceKey(_Key):
  __slots__ = ('idx',)

  def __init__(self, idx: int):
    self.idx = idx

  def _v(self) -> Any:
    return self.idx

  def __str__(self) -> str:
    return f'[{self.idx}]'

  __repr__ = lambda self: f'SequenceKey(idx={self.idx})'


class GetAttrKey(_Key):
  __slots__ = ('name',)

  def __init__(self, name: str):
    self.name = name

  def _v(self) -> Any:
    return self.name

  def __str__(self) -> str:
    return f'.{self.name}'

  __repr__ = lambda self: f'GetAttrKey(name={self.name!r})'


def _key_classes() -> Tuple[Any, Any, Any]:
  jax = _tree.jax_module()
  if jax is None:
    return DictKey, SequenceKey, GetAttrKey
  tu = jax.tree_util
  return tu.DictKey, tu.SequenceKey, tu.GetAttrKey


def _map_with_keypath(fn: Any, tree: Any) -> Any:
  """fn(keypath, leaf) for every leaf: keypath a tuple of key entries
  (jax.tree_util's when JAX is importable, else look-alikes whose str() is
  jax's, so jax.tree_util.keystr-like ''.join(map(str, keypath)) works)."""
  dict_key, seq_key, attr_key = _key_classes()

  def walk(x: Any, path: tuple) -> Any:
    if x is None:
      return None
    node = _tree.flatten_one_level(x)
    if node is None:
      return fn(path, x)
    children = []
    for k, c in zip(node.keys, node.children):
      if node.is_sequence:
        entry = seq_key(k)
      elif node.custom and not isinstance(x, dict):
        entry = attr_key(k)
      else:
        entry = dict_key(k)
      children.append(walk(c, path + (entry,)))
    return node.unflatten(children)

  return walk(tree, ())


def save_args(ctx: Context, tree: Any) -> Any:
  """A tree of SaveArgs for `tree` from the array storage options (None
  when they change nothing)."""
  saving = ctx.array.saving
  global_dtype = saving.storage_options.dtype
  creator = saving.scoped_storage_options_creator
  if global_dtype is None and creator is None:
    return None

  def leaf_args(keypath: tuple, value: Any) -> Any:
    dtype = global_dtype
    if creator is not None:
      scoped = creator(keypath, value)
      if scoped is not None and scoped.dtype is not None:
        dtype = scoped.dtype
    if dtype is None or not (hasattr(value, 'dtype') or
                             isinstance(value, (int, float))):
      return None
    return _types.SaveArgs(dtype=dtype)

  return _map_with_keypath(leaf_args, tree)


def restore_args(ctx: Context, abstract: Any) -> Any:
  """ckptdb restore args for an abstract pytree under ctx: structure and
  dtypes as StandardRestore; a leaf with a sharding requests its shape
  (strict unless enable_padding_and_truncation); partial_load allows
  the abstract tree to omit entries."""
  from ckptdb import args as args_lib  # pylint: disable=g-import-not-at-top
  strict = not ctx.array.loading.enable_padding_and_truncation
  partial = ctx.pytree.loading.partial_load
  if not partial:
    return args_lib.StandardRestore(abstract, strict=strict)
  per_leaf = args_lib.StandardRestore(strict=strict)._leaf_restore_args  # pylint: disable=protected-access
  return args_lib.PyTreeRestore(
      abstract, restore_args=_tree.map_leaves(per_leaf, abstract),
      partial_restore=True)
