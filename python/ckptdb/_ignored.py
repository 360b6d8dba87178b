"""Warn once about Orbax options ckptdb accepts but does not act on.

Each option gets one warning per process, saying what ckptdb does instead,
so that Orbax code runs unchanged and nothing is ignored silently.
"""

import warnings

_warned = set()


def warn_once(name: str, instead: str, stacklevel: int = 3) -> None:
  """Warns (once per process per `name`) that `name` is ignored."""
  if name in _warned:
    return
  _warned.add(name)
  warnings.warn(f'ckptdb ignores {name}: {instead}', stacklevel=stacklevel)


def reset() -> None:
  """Forgets which warnings were given (for tests)."""
  _warned.clear()


_DELETE = ('deleting a step removes it from the database in one atomic '
           'commit (nothing is renamed or kept aside); keep steps with '
           'preservation_policy or max_to_keep instead')
_GC = ('deleting a step is one small commit; the space of its chunks is '
       'reclaimed by garbage collection (gc_garbage_fraction, '
       'collect_garbage())')
_ONE_PROCESS = ('one process writes a ckptdb database; others follow it '
                '(docs/python.md, "Many processes")')
_ATOMIC = 'every step is committed atomically by the database'

# CheckpointManagerOptions fields ckptdb ignores, and what it does instead.
MANAGER_OPTIONS = {
    'cleanup_tmp_directories':
        'ckptdb has no temporary step directories: what an interrupted '
        'save wrote is removed when the database is next opened for '
        'writing',
    'single_host_load_and_broadcast': _ONE_PROCESS,
    'todelete_subdir': _DELETE,
    'todelete_full_path': _DELETE,
    'enable_background_delete': _GC,
    'num_deletion_threads': _GC,
    'enable_per_process_directory_creation': _ONE_PROCESS,
    'file_options': 'files are created with the permissions the umask '
                    'gives',
    'atomicity_options': _ATOMIC,
    'temporary_path_class': _ATOMIC,
    'prevent_write_metrics': 'metrics passed to save() are always stored',
    'lightweight_initialize': 'the step list, times and metrics are read '
                              'from the database at open (no per-step '
                              'files to read)',
    'async_options': 'async saves have no barrier or post-finalization '
                     'callback (timeout_secs only bounds how long the '
                     'processes of a multi-process save wait for each '
                     'other); wait_until_finished() waits for the save to '
                     'commit',
}

CHECKPOINTER_OPTION = ('a ckptdb checkpoint is one database, written by one '
                       'process and committed atomically; this storage, '
                       'multi-host or file-system option has no effect')

_NO_LIMITER = ('ckptdb does not limit the bytes in flight: a save reads the '
               'arrays in place (an async save copies them once) and a '
               'restore reads straight into the returned arrays')
_LAYOUT = ('every array is stored as content-hashed chunks in the '
           "checkpoint's RocksDB database (no OCDBT, TensorStore or Zarr "
           'files); tune chunking with StoreTuning')

# Keyword options of Orbax's handlers (and of PyTreeSave) that ckptdb
# accepts without acting on them, and what it does instead.
HANDLER_OPTIONS = {
    'use_ocdbt': _LAYOUT,
    'use_zarr3': _LAYOUT,
    'ocdbt_target_data_file_size': _LAYOUT + '; RocksDB sizes its files',
    'use_compression': 'chunks are stored uncompressed (identical chunks '
                       'are stored once, across steps)',
    'save_concurrent_gb': _NO_LIMITER,
    'restore_concurrent_gb': _NO_LIMITER,
    'save_device_host_concurrent_gb': _NO_LIMITER,
    'memory_limit_options': _NO_LIMITER,
    'enable_pinned_host_transfer': 'arrays are host numpy arrays: there is '
                                   'no device-to-host transfer',
    'is_prioritized_key_fn': 'all leaves of a save are written together, '
                             'in one atomic commit',
    'aggregate_filename': 'there is no aggregate msgpack file: the tree is '
                          'stored as database records',
    'multiprocessing_options': _ONE_PROCESS,
    'type_handler_registry': 'leaf types are fixed (docs/python.md, '
                             '"Trees"); register containers with '
                             'ckptdb.tree.register_pytree_node',
    'handler_impl': 'the C++ core saves and restores every tree',
    'pytree_metadata_options': 'restoring without a target always returns '
                               'the saved container types',
    'array_metadata_validator': 'array metadata is checked by the core '
                                '(checksummed records)',
    'composite_options': 'items are saved into one database, committed '
                         'together',
}
