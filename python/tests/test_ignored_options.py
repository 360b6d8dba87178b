"""No silent no-ops: options ckptdb accepts but ignores warn once.

Reference: issue 16, "No silent no-ops: an option or argument ckptdb
accepts either works or warns once saying what it does instead"; the
options' Orbax meanings are in orbax-semantics.md section 2 (for example
`todelete_subdir`: "Deletion = rename <root>/<step> -> <root>/<todelete_subdir>
/<step>") and section 5 (Checkpointer options).
"""

import datetime
import warnings

import pytest

import ckptdb
from ckptdb import _ignored


@pytest.fixture(autouse=True)
def _fresh_warnings():
  _ignored.reset()
  yield
  _ignored.reset()


IGNORED = [
    ('cleanup_tmp_directories', True, 'no temporary step directories'),
    ('single_host_load_and_broadcast', True, 'one process writes'),
    ('todelete_subdir', 'trash', 'atomic commit'),
    ('todelete_full_path', 'trash', 'atomic commit'),
    ('enable_background_delete', True, 'garbage collection'),
    ('num_deletion_threads', 4, 'garbage collection'),
    ('enable_per_process_directory_creation', True, 'one process writes'),
    ('file_options', object(), 'umask'),
    ('atomicity_options', object(), 'committed atomically'),
    ('temporary_path_class', object, 'committed atomically'),
    ('prevent_write_metrics', True, 'always stored'),
    ('lightweight_initialize', True, 'read from the database'),
    ('async_options', ckptdb.AsyncOptions(timeout_secs=5), 'no barrier'),
]


@pytest.mark.parametrize('name,value,instead', IGNORED,
                         ids=[n for n, _, _ in IGNORED])
def test_ignored_manager_option_warns_once(tmp_path, name, value, instead):
  """Each ignored CheckpointManagerOptions field warns once, naming the
  option and what ckptdb does instead (issue 16)."""
  with pytest.warns(UserWarning, match=f'ignores CheckpointManagerOptions'
                    f'.{name}: .*{instead}'):
    options = ckptdb.CheckpointManagerOptions(**{name: value})
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    ckptdb.CheckpointManagerOptions(**{name: value})  # once only
  with ckptdb.CheckpointManager(tmp_path / 'm', options=options) as m:
    assert m.save(0, args=ckptdb.args.StandardSave({'a': 1}))


def test_defaults_and_used_options_do_not_warn(tmp_path):
  """Options at their defaults, and options ckptdb honours, are silent."""
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    options = ckptdb.CheckpointManagerOptions(
        max_to_keep=2, save_interval_steps=1, best_fn=None,
        keep_time_interval=datetime.timedelta(hours=1),
        async_options=ckptdb.AsyncOptions(),
        enable_should_save_is_saving_in_progress_check=False)
    with ckptdb.CheckpointManager(tmp_path / 'm', options=options) as m:
      m.save(0, args=ckptdb.args.StandardSave({'a': 1}))
    ckptdb.PyTreeCheckpointer().save(tmp_path / 'c', {'a': 1})
    ckptdb.AsyncCheckpointer(ckptdb.PyTreeCheckpointHandler()).close()


def test_read_only_resets_deletion_options_silently(tmp_path):
  """orbax-semantics.md 2: read_only forces todelete_subdir=None, so there
  is nothing to warn about."""
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    ckptdb.CheckpointManagerOptions(read_only=True, todelete_subdir='x')


def test_manager_logger_warns(tmp_path):
  """CheckpointManager(logger=...) is ignored: warns once."""
  with pytest.warns(UserWarning, match='logger'):
    ckptdb.CheckpointManager(tmp_path / 'm', logger=object()).close()


def test_checkpointer_options_warn_once(tmp_path):
  """Orbax's Checkpointer(..., multiprocessing_options=..., file_options=...)
  and AsyncCheckpointer(timeout_secs=...) are accepted and warn once."""
  with pytest.warns(UserWarning, match=r'Checkpointer\(file_options=\.\.\.\)'):
    ckptdb.Checkpointer(ckptdb.PyTreeCheckpointHandler(), file_options=1)
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    ckptdb.Checkpointer(ckptdb.PyTreeCheckpointHandler(), file_options=1)
  with pytest.warns(UserWarning, match='no timeout'):
    ckptdb.AsyncCheckpointer(ckptdb.PyTreeCheckpointHandler(),
                             timeout_secs=10).close()


# Orbax's handler storage options (pytree_checkpoint_handler.py,
# standard_checkpoint_handler.py __init__ signatures; orbax-semantics.md
# 6.2) and PyTreeSave's ocdbt_target_data_file_size (6.1).
HANDLER_OPTIONS = [
    (ckptdb.PyTreeCheckpointHandler, 'use_ocdbt', False, 'content-hashed'),
    (ckptdb.PyTreeCheckpointHandler, 'use_zarr3', True, 'no OCDBT'),
    (ckptdb.PyTreeCheckpointHandler, 'save_concurrent_gb', 4, 'in flight'),
    (ckptdb.PyTreeCheckpointHandler, 'restore_concurrent_gb', 4, 'in flight'),
    (ckptdb.PyTreeCheckpointHandler, 'use_compression', False,
     'uncompressed'),
    (ckptdb.PyTreeCheckpointHandler, 'enable_pinned_host_transfer', True,
     'host numpy'),
    (ckptdb.StandardCheckpointHandler, 'use_ocdbt', False, 'content-hashed'),
    (ckptdb.StandardCheckpointHandler, 'save_concurrent_gb', 8, 'in flight'),
    (ckptdb.JsonCheckpointHandler, 'multiprocessing_options', object(),
     'one process writes'),
]


@pytest.mark.parametrize('cls,name,value,instead', HANDLER_OPTIONS)
def test_handler_storage_option_warns_once(tmp_path, cls, name, value,
                                           instead):
  """Issue 16: storage-layout options such as use_ocdbt are accepted with
  one warning naming what ckptdb does instead; the handler still works."""
  with pytest.warns(UserWarning, match=f'{name}=.*{instead}'):
    handler = cls(**{name: value})
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    cls(**{name: value})  # once per process
  ckptr = ckptdb.Checkpointer(handler)
  item = {'a': 1} if cls is ckptdb.JsonCheckpointHandler else {'w': [1.0]}
  ckptr.save(tmp_path / 'c', item)
  assert ckptr.restore(tmp_path / 'c') is not None


def test_handler_defaults_do_not_warn_and_unknown_options_fail():
  """Orbax's defaults (use_ocdbt=True, save_concurrent_gb=96 for the
  standard handler) are what ckptdb does: no warning. A keyword Orbax's
  handler does not take is a TypeError, as in Orbax."""
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    ckptdb.PyTreeCheckpointHandler(use_ocdbt=True, use_zarr3=False)
    ckptdb.StandardCheckpointHandler(save_concurrent_gb=96, use_ocdbt=True)
  with pytest.raises(TypeError, match='use_zarr3'):
    ckptdb.StandardCheckpointHandler(use_zarr3=True)


def test_pytree_save_storage_args_warn_once(tmp_path):
  """PyTreeSave(ocdbt_target_data_file_size=...) warns once and saves."""
  ckptr = ckptdb.PyTreeCheckpointer()
  with pytest.warns(UserWarning, match='ocdbt_target_data_file_size'):
    ckptr.save(tmp_path / 'c', args=ckptdb.args.PyTreeSave(
        {'w': [1.0]}, ocdbt_target_data_file_size=1 << 20))
  assert ckptr.restore(tmp_path / 'c') == {'w': [1.0]}
