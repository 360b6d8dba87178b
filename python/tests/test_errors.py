"""C++ status codes become Python exceptions carrying the C++ message."""

import pathlib

import numpy as np
import pytest

import ckptdb


def test_exception_classes_are_also_the_builtins_orbax_raises():
  cases = {
      'NOT_FOUND': (ckptdb.NotFoundError, FileNotFoundError),
      'ALREADY_EXISTS': (ckptdb.AlreadyExistsError, FileExistsError),
      'INVALID_ARGUMENT': (ckptdb.InvalidArgumentError, ValueError),
      'OUT_OF_RANGE': (ckptdb.InvalidArgumentError, ValueError),
      'DATA_LOSS': (ckptdb.CorruptionError, IOError),
      'FAILED_PRECONDITION': (ckptdb.FailedPreconditionError, RuntimeError),
      'ABORTED': (ckptdb.FailedPreconditionError, RuntimeError),
      'RESOURCE_EXHAUSTED': (ckptdb.ResourceExhaustedError, OSError),
      'UNAVAILABLE': (ckptdb.UnavailableError, IOError),
      'PERMISSION_DENIED': (ckptdb.PermissionDeniedError, PermissionError),
      'UNIMPLEMENTED': (ckptdb.UnimplementedError, NotImplementedError),
      'DEADLINE_EXCEEDED': (ckptdb.DeadlineExceededError, TimeoutError),
      'INTERNAL': (ckptdb.InternalError, RuntimeError),
      'UNKNOWN': (ckptdb.InternalError, RuntimeError),
  }
  for code, (cls, builtin) in cases.items():
    e = ckptdb._ckptdb.status_exception(code, f'the {code} message')
    assert type(e) is cls, code
    assert isinstance(e, builtin) and isinstance(e, ckptdb.Error), code
    assert str(e) == f'the {code} message' and e.code == code
  assert issubclass(ckptdb.AlreadyExistsError, ValueError)  # as Orbax's
  assert ckptdb.StepAlreadyExistsError is ckptdb.AlreadyExistsError


def test_missing_checkpoint_is_file_not_found(tmp_path):
  with pytest.raises(FileNotFoundError, match='no ckptdb database at') as e:
    ckptdb.PyTreeCheckpointer().restore(tmp_path / 'nope')
  assert isinstance(e.value, ckptdb.NotFoundError)
  assert str(tmp_path / 'nope') in str(e.value)


def test_missing_steps_are_file_not_found(tmp_path):
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    with pytest.raises(FileNotFoundError, match='No steps found'):
      mngr.restore()
    mngr.save(1, args=ckptdb.args.StandardSave({'a': 1}))
    mngr.wait_until_finished()
    with pytest.raises(FileNotFoundError, match='2'):
      mngr.restore(2)
    with pytest.raises(FileNotFoundError):
      mngr.delete(7)
    with pytest.raises(FileNotFoundError):
      mngr.metrics(7)


def test_existing_checkpoint_without_force(tmp_path):
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'a': 1})
  with pytest.raises(FileExistsError, match='already exists') as e:
    ckptr.save(tmp_path / 'c', {'a': 2})
  assert isinstance(e.value, ValueError) and e.value.code == 'ALREADY_EXISTS'
  assert ckptr.restore(tmp_path / 'c') == {'a': 1}  # unchanged


def test_forced_save_of_an_existing_step(tmp_path):
  options = ckptdb.CheckpointManagerOptions(enable_async_checkpointing=False)
  with ckptdb.CheckpointManager(tmp_path / 'm', options=options) as mngr:
    assert mngr.save(3, args=ckptdb.args.StandardSave({'a': 1}))
    assert not mngr.save(3, args=ckptdb.args.StandardSave({'a': 2}))
    with pytest.raises(ckptdb.StepAlreadyExistsError,
                       match='Checkpoint for step 3 already exists.'):
      mngr.save(3, args=ckptdb.args.StandardSave({'a': 2}), force=True)


def test_target_mismatch_is_value_error_naming_the_path(tmp_path):
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'params': {'w': np.ones(2), 'b': 1}})
  with pytest.raises(ValueError, match="'params/x'") as e:
    ckptr.restore(tmp_path / 'c', item={'params': {'w': 0, 'b': 0, 'x': 0}})
  assert isinstance(e.value, ckptdb.InvalidArgumentError)
  with pytest.raises(ValueError, match='does not match'):
    ckptr.restore(tmp_path / 'c', item=[1, 2])


def _flip_a_byte_of(path: pathlib.Path, data: bytes) -> None:
  needle = data[len(data) // 2:len(data) // 2 + 64]
  for f in sorted(path.glob('*.sst')):
    blob = bytearray(f.read_bytes())
    i = blob.find(needle)
    if i >= 0:
      blob[i + 10] ^= 0xFF
      f.write_bytes(bytes(blob))
      return
  raise AssertionError('array bytes not found in any .sst file')


def test_corrupt_bytes_are_corruption_error_naming_the_leaf(tmp_path):
  w = np.random.default_rng(3).standard_normal(1 << 19)  # 4 MiB
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'params': {'w': w}, 'other': np.arange(4)})
  _flip_a_byte_of(tmp_path / 'c', w.tobytes())
  with pytest.raises(ckptdb.CorruptionError, match="leaf 'params/w'") as e:
    ckptr.restore(tmp_path / 'c')
  assert isinstance(e.value, IOError) and e.value.code == 'DATA_LOSS'
  # Leaves not read are fine.
  got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.PyTreeRestore(
      {'other': None}, partial_restore=True))
  np.testing.assert_array_equal(got['other'], np.arange(4))


def test_foreign_databases_and_followers_are_failed_precondition(tmp_path):
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ckptdb.args.StandardSave({'a': 1}))
    mngr.wait_until_finished()
    with pytest.raises(ckptdb.FailedPreconditionError):
      ckptdb.PyTreeCheckpointer().save(tmp_path / 'm', {'a': 1}, force=True)
    # A second manager of the same database follows the first and writes
    # through it.
    follower = ckptdb.CheckpointManager(tmp_path / 'm')
    assert follower.following
    assert follower.save(1, args=ckptdb.args.StandardSave({'a': 2}))
    follower.wait_until_finished()
    follower.delete(0)
    # A step that exists: the later commit fails, as in Orbax.
    with pytest.raises(Exception, match='already exists'):
      follower.save(1, args=ckptdb.args.StandardSave({'a': 3}), force=True)
      follower.wait_until_finished()
    follower.close()
    assert mngr.all_steps() == [1]
    assert mngr.restore(1) == {'a': 2}
  (tmp_path / 'plain').mkdir()
  (tmp_path / 'plain' / 'notes.txt').write_text('not a checkpoint')
  with pytest.raises(ckptdb.FailedPreconditionError):
    ckptdb.PyTreeCheckpointer().save(tmp_path / 'plain', {'a': 1}, force=True)
  assert (tmp_path / 'plain' / 'notes.txt').read_text() == 'not a checkpoint'


def test_closed_manager(tmp_path):
  mngr = ckptdb.CheckpointManager(tmp_path / 'm')
  mngr.close()
  with pytest.raises(ckptdb.FailedPreconditionError, match='closed'):
    mngr.save(0, args=ckptdb.args.StandardSave({'a': 1}))


@pytest.mark.parametrize('leaf,error,match', [
    (object(), TypeError, "type object at 'x'"),
    (np.array(['a', 'b']), TypeError, "dtype <U1.*at 'x'"),
    (np.array([1], dtype=object), TypeError, "dtype |O.*at 'x'"),
    (2**64, OverflowError, "at 'x' does not fit in 64 bits"),
    ({(1, 2): 3}, TypeError, 'dict keys must be str or int'),
], ids=['object', 'str-array', 'object-array', 'big-int', 'tuple-key'])
def test_unsupported_values(tmp_path, leaf, error, match):
  with pytest.raises(error, match=match):
    ckptdb.PyTreeCheckpointer().save(tmp_path / 'c', {'x': leaf})
  assert not (tmp_path / 'c').exists() or not any(
      (tmp_path / 'c').glob('*.sst'))


def test_unsupported_target_leaves_say_restore(tmp_path):
  # A target's leaves are restored into: the error says so, not "store".
  ckpt = ckptdb.PyTreeCheckpointer()
  ckpt.save(tmp_path / 'c', {'x': np.arange(3)})
  for leaf, match in [(np.array(['abc']), "restore into an array of dtype "
                                          "<U3 .*at 'x'"),
                      (object(), "restore into a value of type object at "
                                 "'x'")]:
    with pytest.raises(TypeError, match=match):
      ckpt.restore(tmp_path / 'c', item={'x': leaf})


def test_a_tree_that_contains_itself(tmp_path):
  loop = [1]
  loop.append(loop)
  with pytest.raises(ValueError, match='deeper than'):
    ckptdb.PyTreeCheckpointer().save(tmp_path / 'c', loop)


def test_orbax_argument_errors(tmp_path):
  with pytest.raises(ValueError, match='Found empty item'):
    ckptdb.PyTreeCheckpointer().save(tmp_path / 'c', {})
  with pytest.raises(ValueError, match='best_mode'):
    ckptdb.CheckpointManagerOptions(best_mode='avg')
  with pytest.raises(ValueError, match='max_to_keep'):
    ckptdb.CheckpointManagerOptions(max_to_keep=-1)
  # Orbax's message (its EveryNSteps'), after the option the caller set.
  with pytest.raises(ckptdb.InvalidArgumentError,
                     match=r'^keep_period must not be 0 .*interval_steps '
                     r'must not be 0\.'):
    ckptdb.CheckpointManager(tmp_path / 'k', options=ckptdb.CheckpointManagerOptions(
        keep_period=0))
  with pytest.raises(ValueError, match='mutually exclusive'):
    ckptdb.CheckpointManager(tmp_path / 'p', options=ckptdb.CheckpointManagerOptions(
        max_to_keep=2,
        preservation_policy=ckptdb.checkpoint_managers.LatestN(1)))
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    with pytest.raises(ValueError, match='Must provide `args`'):
      mngr.save(0)
    with pytest.raises(ValueError, match='Found an instance of `CheckpointArgs`'):
      mngr.save(0, ckptdb.args.StandardSave({'a': 1}))
    mngr.save(0, args=ckptdb.args.StandardSave({'a': 1}))
    with pytest.raises(ValueError, match='Cannot provide `args` of type `Composite`'):
      mngr.save(1, args=ckptdb.args.Composite(a=ckptdb.args.StandardSave({})))
  with ckptdb.CheckpointManager(tmp_path / 'n') as mngr:
    mngr.save(0, args=ckptdb.args.Composite(a=ckptdb.args.StandardSave({'a': 1})))
    with pytest.raises(ValueError, match='Must provide `args` of type `Composite`'):
      mngr.save(1, args=ckptdb.args.StandardSave({'a': 1}))
  # Orbax's PyTreeCheckpointHandler: transforms need the result's `item`.
  with pytest.raises(ValueError, match='must provide `item`'):
    ckptdb.PyTreeCheckpointer().restore(tmp_path / 'm', transforms={})
  with pytest.raises(TypeError, match='ArrayCheckpointHandler'):
    ckptdb.Checkpointer(ckptdb.ArrayCheckpointHandler()).save(
        tmp_path / 'arr', {'a': np.ones(1)})


def test_per_leaf_args_must_name_exactly_one_leaf(tmp_path):
  """A dtype cast never silently hits another leaf or nothing at all."""
  ck = ckptdb.PyTreeCheckpointer()
  alike = {'a/b': np.ones(2), 'a': {'b': np.ones(2)}}
  with pytest.raises(ValueError, match="save_args entry 'a/b' matches 2"):
    ck.save(tmp_path / 'alike', alike,
            save_args={'a/b': ckptdb.SaveArgs(),
                       'a': {'b': ckptdb.SaveArgs(dtype=np.float16)}})
  with pytest.raises(ValueError, match='matches 2 leaves'):
    ck.save(tmp_path / 'ints', {0: np.ones(2), '0': np.ones(2)},
            save_args={0: ckptdb.SaveArgs(dtype=np.float16),
                       '0': ckptdb.SaveArgs()})
  with pytest.raises(ValueError, match="save_args names 'zzz', which is not"):
    ck.save(tmp_path / 'typo', {'w': np.ones(2)},
            save_args={'zzz': ckptdb.SaveArgs(dtype=np.float16)})
  ck.save(tmp_path / 'ok', {'w': np.ones(2)})
  with pytest.raises(ValueError, match="restore_args names 'nope'"):
    ck.restore(tmp_path / 'ok',
               restore_args={'nope': ckptdb.RestoreArgs(dtype=np.float16)})
  got = ck.restore(tmp_path / 'ok',
                   restore_args={'w': ckptdb.RestoreArgs(dtype=np.float16)})
  assert got['w'].dtype == np.float16


def test_bad_steps_and_options_name_what_is_wrong(tmp_path):
  with pytest.raises(TypeError, match='max_to_keep must be an int, got float'):
    ckptdb.CheckpointManagerOptions(max_to_keep=1.5)
  with pytest.raises(ValueError, match='save_interval_steps .* out of range'):
    ckptdb.CheckpointManagerOptions(save_interval_steps=2**70)
  with pytest.raises(ValueError, match='save_on_steps entry .* out of range'):
    ckptdb.CheckpointManagerOptions(save_on_steps=[2**70])
  with ckptdb.CheckpointManager(tmp_path / 'm') as m:
    tree = {'a': np.arange(1000.0)}
    with pytest.raises(TypeError, match='^step must be an int, got float 40.0$'):
      m.save(40.0, args=ckptdb.args.StandardSave(tree))
    with pytest.raises(ValueError, match='^step 9223372036854775808 is out'):
      m.save(2**63, args=ckptdb.args.StandardSave(tree))
    with pytest.raises(TypeError, match='step must be an int'):
      m.restore('3')
    m.save(np.int64(1), args=ckptdb.args.Composite(
        state=ckptdb.args.StandardSave(tree)))
    m.wait_until_finished()
    with pytest.raises(KeyError, match="step 1 has no item 'nope'"):
      m.restore(1, args=ckptdb.args.Composite(
          nope=ckptdb.args.StandardRestore(tree)))


def test_item_names_that_are_not_utf8_are_a_value_error(tmp_path):
  """An item name with a lone surrogate was RuntimeError('Unable to cast
  Python instance to C++ type') from the manager and a bare
  UnicodeEncodeError from a Checkpointer; it is a ValueError naming it,
  and nothing is saved."""
  bad = '\ud800'
  match = r"^item name '\\ud800' is not valid UTF-8 text: item names must be"
  items = ckptdb.args.Composite(**{'ok': ckptdb.args.StandardSave({'a': 1}),
                                   bad: ckptdb.args.StandardSave({'a': 1})})
  options = ckptdb.CheckpointManagerOptions(enable_async_checkpointing=False)
  with ckptdb.CheckpointManager(tmp_path / 'm', options=options) as m:
    for save in (lambda: m.save(0, args=items),
                 lambda: m.save(0, {'ok': {'a': 1}, bad: {'a': 1}})):
      with pytest.raises(ValueError, match=match) as info:
        save()
      assert type(info.value) is ValueError
    assert m.all_steps() == []
  for cls in (ckptdb.Checkpointer, ckptdb.AsyncCheckpointer):
    ckptr = cls(ckptdb.CompositeCheckpointHandler())
    with pytest.raises(ValueError, match=match) as info:
      ckptr.save(tmp_path / cls.__name__, args=items)
    assert type(info.value) is ValueError
    ckptr.close()
    assert not (tmp_path / cls.__name__).exists()


def test_strings_in_a_save_that_are_not_utf8_are_a_value_error(tmp_path):
  """A dict key (or string leaf, metric, custom metadata) with a lone
  surrogate was a bare UnicodeEncodeError from the C++ core's walk of the
  save; it is a ValueError naming the string, chained to it."""
  match = (r"^'k\\ud800' \(a dict key, or a string leaf, metric or custom "
           r'metadata value\) is not valid UTF-8 text')
  tree = {'a': {'k\ud800': np.ones(2)}}
  with ckptdb.CheckpointManager(tmp_path / 'm') as m:
    saves = (lambda: m.save(0, args=ckptdb.args.StandardSave(tree)),
             lambda: m.save(0, args=ckptdb.args.StandardSave({'a': 1}),
                            metrics={'k\ud800': 1.0}))
    for save in saves:
      with pytest.raises(ValueError, match=match) as info:
        save()
      assert type(info.value) is ValueError
      assert isinstance(info.value.__cause__, UnicodeEncodeError)
    m.wait_until_finished()
    assert m.all_steps() == []
  ckptr = ckptdb.StandardCheckpointer()
  with pytest.raises(ValueError, match=match) as info:
    ckptr.save(tmp_path / 'c', tree)
  assert isinstance(info.value.__cause__, UnicodeEncodeError)
  ckptr.close()


def test_too_low_an_open_file_limit_names_it(tmp_path):
  # An open database keeps each of its table files open; a process whose
  # limit is lower than that gets ResourceExhaustedError naming the limit.
  import os  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  with ckptdb.CheckpointManager(tmp_path / 'm') as m:
    for step in range(8):
      m.save(step, args=ckptdb.args.StandardSave(
          {'w': np.full(1000, step, np.float32)}))
  tables = [f for f in os.listdir(tmp_path / 'm') if f.endswith('.sst')]
  assert len(tables) > 12
  script = f'''
import resource, ckptdb
resource.setrlimit(resource.RLIMIT_NOFILE, (12, 12))
try:
  ckptdb.CheckpointManager({str(tmp_path / 'm')!r})
except ckptdb.ResourceExhaustedError as e:
  print(e)
'''
  env = dict(os.environ,
             PYTHONPATH=os.path.dirname(os.path.dirname(ckptdb.__file__)))
  r = subprocess.run([sys.executable, '-c', script], env=env, timeout=120,
                     capture_output=True, text=True)
  assert r.returncode == 0, r.stderr
  assert 'Too many open files (this process may open 12 files' in r.stdout
  assert 'resource.setrlimit' in r.stdout
