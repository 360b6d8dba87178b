"""Orbax v1's options (orbax.checkpoint.v1.options), used through ocp.Context.

    ctx = ocp.Context()
    ctx.asynchronous.timeout_secs = 600
    ctx.array.loading.enable_padding_and_truncation = True
    with ctx:
      ocp.save(path, state)

The same dataclasses, fields and defaults as Orbax's. Each option is one of:

- applied: AsyncOptions (timeout_secs, post_finalization_callback),
  FileOptions.path_class, PyTreeOptions.loading.partial_load,
  ArrayOptions.Saving.storage_options.dtype and
  scoped_storage_options_creator (dtype casts on save),
  ArrayOptions.Loading.enable_padding_and_truncation;
- already what ckptdb does, so accepted: AsyncOptions.
  create_directories_asynchronously (the database is opened before save_async
  returns: nothing is created later), ArrayOptions.Saving.use_compression
  (either value: see docs/python.md), ArrayOptions.Loading.
  raise_array_data_missing_error (a committed step always has all its data),
  AtomicityOptions (every commit is atomic), MultiprocessingOptions with one
  process (primary_host 0 or None, active_processes None or {0});
- Orbax's file layout or device transfers only: accepted with one warning
  each (ckptdb._ignored), as ckptdb's v0 options are: use_ocdbt, use_zarr3,
  ocdbt_target_data_file_size, enable_pinned_host_transfer,
  enable_post_merge_validation, the replica-parallel options,
  enable_write_sharding_file, array_metadata_store, chunk_byte_size,
  shard_axes;
- cannot apply to a ckptdb database: any other non-default value raises
  NotImplementedError naming the option when a checkpoint operation runs in
  the context (see _context.check).

As in Orbax, the options of an active context (inside `with ctx:`) cannot be
changed (RuntimeError).
"""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import pathlib
from typing import Any, Callable, Optional, Protocol, Tuple

# ids of the option objects of the active contexts (Orbax's FROZEN_IDS).
FROZEN_IDS: contextvars.ContextVar = contextvars.ContextVar(
    'ckptdb_v1_frozen_option_ids', default=frozenset())


class _ActiveContextGuard:
  """Refuses to change an option of an active context (as Orbax)."""

  def __setattr__(self, name: str, value: Any) -> None:
    if id(self) in FROZEN_IDS.get():
      raise RuntimeError(
          'Cannot mutate options of an active context. '
          'Configure before entering the `with` block.')
    object.__setattr__(self, name, value)


def _default_path_class() -> type:
  try:
    from etils import epath  # pylint: disable=g-import-not-at-top
    return epath.Path
  except ImportError:
    return pathlib.Path


@dataclasses.dataclass(kw_only=True)
class AsyncOptions(_ActiveContextGuard):
  """timeout_secs: how long result() of a save_async response (and a
  training Checkpointer's wait for a save) waits before TimeoutError (the
  save goes on). post_finalization_callback: called (no arguments, on a
  background thread) once an async save has committed.
  create_directories_asynchronously: accepted (nothing to create)."""
  timeout_secs: int = 1200  # 20 minutes.
  post_finalization_callback: Optional[Callable[[], None]] = None
  create_directories_asynchronously: bool = True


class AtomicityMode(str, enum.Enum):
  AUTO = 'auto'
  COMMIT_FILE = 'commit_file'
  ATOMIC_RENAME = 'atomic_rename'


@dataclasses.dataclass(kw_only=True)
class AtomicityOptions(_ActiveContextGuard):
  """Accepted: every ckptdb commit is atomic, whatever the mode."""
  mode: AtomicityMode = AtomicityMode.AUTO
  allow_legacy_atomic_rename: bool = False


@dataclasses.dataclass(kw_only=True)
class MultiprocessingOptions(_ActiveContextGuard):
  """One process writes a ckptdb database: only single-process values
  (primary_host 0 or None, active_processes None or {0}, no
  barrier_sync_key_prefix) can apply."""
  primary_host: Optional[int] = 0
  active_processes: Optional[set] = None
  barrier_sync_key_prefix: Optional[str] = None


@dataclasses.dataclass(kw_only=True)
class FileOptions(_ActiveContextGuard):
  """path_class: the type of the paths returned (CheckpointMetadata.path,
  training.Checkpointer.directory); etils.epath.Path when etils is
  importable, else pathlib.Path. path_permission_mode: not applicable
  (files get the permissions the umask gives)."""
  path_permission_mode: Optional[int] = None
  path_class: type = dataclasses.field(default_factory=_default_path_class)


@dataclasses.dataclass(kw_only=True)
class PyTreeMetadataOptions(_ActiveContextGuard):
  """Orbax's tree metadata options (support_rich_types)."""
  support_rich_types: bool = False


@dataclasses.dataclass(kw_only=True)
class PyTreeOptions(_ActiveContextGuard):
  """saving.pytree_metadata_options; loading.partial_load: load only the
  entries the abstract pytree names (others may be absent from it)."""

  @dataclasses.dataclass(kw_only=True)
  class Saving(_ActiveContextGuard):
    pytree_metadata_options: PyTreeMetadataOptions = dataclasses.field(
        default_factory=PyTreeMetadataOptions)

  @dataclasses.dataclass(kw_only=True)
  class Loading(_ActiveContextGuard):
    partial_load: bool = False

  saving: Saving = dataclasses.field(default_factory=Saving)
  loading: Loading = dataclasses.field(default_factory=Loading)


@dataclasses.dataclass(kw_only=True)
class ArrayOptions(_ActiveContextGuard):
  """saving.storage_options.dtype (and scoped_storage_options_creator's
  per-leaf dtype): store leaves cast to it. loading.
  enable_padding_and_truncation: an abstract leaf's shape that differs from
  the saved one pads with zeros or truncates instead of raising."""

  @dataclasses.dataclass(kw_only=True)
  class Saving(_ActiveContextGuard):
    """Orbax's array saving options (see the module docstring)."""

    class ScopedStorageOptionsCreator(Protocol):

      def __call__(self, key: Tuple[Any, ...], value: Any
                  ) -> Optional['ArrayOptions.Saving.StorageOptions']:
        ...

    @dataclasses.dataclass(kw_only=True)
    class StorageOptions(_ActiveContextGuard):
      dtype: Any = None
      chunk_byte_size: Optional[int] = None
      shard_axes: Optional[Tuple[int, ...]] = None

    storage_options: StorageOptions = dataclasses.field(
        default_factory=StorageOptions)
    use_ocdbt: bool = True
    use_zarr3: bool = True
    use_compression: bool = True
    ocdbt_target_data_file_size: Optional[int] = None
    enable_pinned_host_transfer: Optional[bool] = None
    enable_post_merge_validation: bool = True
    use_replica_parallel: Optional[bool] = None
    min_slice_bytes_for_replica_parallel: Optional[int] = None
    max_replicas_for_replica_parallel: Optional[int] = None
    enable_replica_parallel_separate_folder: bool = False
    enable_write_sharding_file: bool = True
    # Orbax's default is array_metadata_store_lib.Store(); ckptdb keeps array
    # metadata in the database. 'default' stands for Orbax's store.
    array_metadata_store: Any = 'default'
    scoped_storage_options_creator: Optional[Callable[..., Any]] = None

  @dataclasses.dataclass(kw_only=True)
  class Loading(_ActiveContextGuard):
    """Orbax's array loading options."""

    @dataclasses.dataclass(kw_only=True)
    class LoadAndBroadcastOptions(_ActiveContextGuard):
      replica_axis_index: Optional[int] = 0
      primary_replica_id: Optional[int] = 0
      broadcast_memory_limit_bytes: Optional[int] = None
      broadcast_memory_scaling_factor: Optional[float] = 0.75

    enable_padding_and_truncation: bool = False
    raise_array_data_missing_error: bool = True
    use_load_and_broadcast: bool = False
    load_and_broadcast_options: LoadAndBroadcastOptions = dataclasses.field(
        default_factory=LoadAndBroadcastOptions)

  saving: Saving = dataclasses.field(default_factory=Saving)
  loading: Loading = dataclasses.field(default_factory=Loading)


@dataclasses.dataclass(kw_only=True)
class CheckpointablesOptions(_ActiveContextGuard):
  """registry: Orbax's CheckpointableHandlerRegistry (e.g.
  ocp.handlers.local_registry()) used instead of the global registry to
  resolve each checkpointable's handler (see ckptdb.v1.handlers)."""
  registry: Any = None


@dataclasses.dataclass(kw_only=True)
class PathwaysOptions(_ActiveContextGuard):
  checkpointing_impl: Any = None


@dataclasses.dataclass(kw_only=True)
class DeletionOptions(_ActiveContextGuard):
  """gcs_deletion_options.todelete_full_path: not applicable (a deleted step
  is removed from the database in one commit)."""

  @dataclasses.dataclass(kw_only=True)
  class GcsDeletionOptions(_ActiveContextGuard):
    todelete_full_path: Optional[str] = None

  gcs_deletion_options: GcsDeletionOptions = dataclasses.field(
      default_factory=GcsDeletionOptions)


@dataclasses.dataclass(kw_only=True)
class MemoryOptions(_ActiveContextGuard):
  """Not applicable: ckptdb has no byte limiter (a save copies the tree
  once; tune with ckptdb.StoreTuning)."""
  write_concurrent_bytes: Optional[int] = None
  read_concurrent_bytes: Optional[int] = None
  transfer_concurrent_bytes: Optional[int] = None
  is_prioritized_key_fn: Optional[Callable[..., Any]] = None
  serialization_status_callback: Any = None


@dataclasses.dataclass(kw_only=True)
class SafetensorsOptions(_ActiveContextGuard):
  max_over_read_ratio: Optional[float] = None
  read_chunk_bytes: Optional[int] = None


class CheckpointLayout(enum.Enum):
  """ORBAX (here: a ckptdb database); SAFETENSORS is not supported by
  ckptdb.v1 (NotImplementedError; the ckptdb CLI imports safetensors)."""
  ORBAX = 'orbax'
  SAFETENSORS = 'safetensors'


__all__ = [
    'ArrayOptions', 'AsyncOptions', 'AtomicityMode', 'AtomicityOptions',
    'CheckpointLayout', 'CheckpointablesOptions', 'DeletionOptions',
    'FileOptions', 'MemoryOptions', 'MultiprocessingOptions',
    'PathwaysOptions', 'PyTreeMetadataOptions', 'PyTreeOptions',
    'SafetensorsOptions',
]
