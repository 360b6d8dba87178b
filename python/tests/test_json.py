"""JsonSave / JsonRestore hold JSON exactly, as Orbax's JsonCheckpointHandler.

Reference: orbax-semantics.md section 6.3, "JsonCheckpointHandler: primary
writes json.dumps(item); restore returns json.loads (so JSON types only;
tuples->lists, int keys->str)".
"""

import numpy as np
import pytest

import ckptdb


def _roundtrip(tmp_path, item):
  with ckptdb.CheckpointManager(tmp_path / 'm', item_names=('meta',)) as m:
    m.save(0, args=ckptdb.args.Composite(meta=ckptdb.args.JsonSave(item)))
    m.wait_until_finished()
    return m.restore(0, args=ckptdb.args.Composite(
        meta=ckptdb.args.JsonRestore())).meta


def test_tuples_come_back_as_lists(tmp_path):
  """orbax-semantics.md 6.3: restore returns json.loads, so tuples->lists."""
  got = _roundtrip(tmp_path, {'shape': (2, 3), 'nested': [(1, (2,))]})
  assert got == {'shape': [2, 3], 'nested': [[1, [2]]]}
  assert type(got['shape']) is list and type(got['nested'][0]) is list


def test_int_keys_come_back_as_strings(tmp_path):
  """orbax-semantics.md 6.3: JSON has only string keys (int keys->str)."""
  got = _roundtrip(tmp_path, {1: 'a', 'b': {2: True, None: 0.5}})
  assert got == {'1': 'a', 'b': {'2': True, 'null': 0.5}}


def test_json_values_round_trip(tmp_path):
  """orbax-semantics.md 6.3: any JSON value comes back unchanged."""
  item = {'s': 'x', 'i': 3, 'f': 1.5, 'b': False, 'n': None, 'l': [],
          'd': {}}
  assert _roundtrip(tmp_path, item) == item


@pytest.mark.parametrize('leaf', [np.arange(3), np.float32(1.0), b'x',
                                  object()],
                         ids=['array', 'numpy-scalar', 'bytes', 'object'])
def test_non_json_values_are_type_errors(tmp_path, leaf):
  """Orbax's JsonCheckpointHandler calls json.dumps, which raises TypeError
  for numpy arrays (issue 16: "JsonSave stores arrays (Orbax raises
  TypeError)")."""
  with ckptdb.CheckpointManager(tmp_path / 'm', item_names=('meta',)) as m:
    with pytest.raises(TypeError, match='not JSON serializable'):
      m.save(0, args=ckptdb.args.Composite(
          meta=ckptdb.args.JsonSave({'x': leaf})))
    assert m.all_steps() == []


def test_checkpointer_with_json_handler(tmp_path):
  """Orbax's Checkpointer(JsonCheckpointHandler()) save/restore of a dict
  (checkpointing guide); the restored value is JSON's."""
  ckptr = ckptdb.Checkpointer(ckptdb.JsonCheckpointHandler())
  ckptr.save(tmp_path / 'c', args=ckptdb.args.JsonSave({'t': (1, 2), 3: 4}))
  got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.JsonRestore())
  assert got == {'t': [1, 2], '3': 4}


def test_json_restore_of_a_tree_saved_with_tuples_and_arrays(tmp_path):
  """Items that older ckptdb stored as trees (tuples, int keys, arrays) are
  restored as JSON would give them (orbax-semantics.md 6.3)."""
  with ckptdb.CheckpointManager(tmp_path / 'm', item_names=('meta',)) as m:
    m.save(0, args=ckptdb.args.Composite(meta=ckptdb.args.PyTreeSave(
        {1: (1, 2), 'a': np.arange(2)})))
    m.wait_until_finished()
    got = m.restore(0, args=ckptdb.args.Composite(
        meta=ckptdb.args.JsonRestore())).meta
  assert got == {'1': [1, 2], 'a': [0, 1]}
