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
    ('multiprocessing_options', object(), 'one process writes'),
    ('enable_per_process_directory_creation', True, 'one process writes'),
    ('file_options', object(), 'umask'),
    ('atomicity_options', object(), 'committed atomically'),
    ('temporary_path_class', object, 'committed atomically'),
    ('prevent_write_metrics', True, 'always stored'),
    ('lightweight_initialize', True, 'read from the database'),
    ('async_options', ckptdb.AsyncOptions(timeout_secs=5), 'no timeout'),
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
