"""Custom pytree nodes: dataclasses, namedtuples, registered classes, JAX.

Orbax saves any pytree jax.tree_util can flatten (orbax-semantics.md 6.2,
"Any pytree whose leaves have a registered TypeHandler"); with a target the
result takes the target's structure and types, without one a NamedTuple,
dataclass, flax.struct or custom node comes back as a dict of its fields
(orbax-semantics.md 6.7, table "restored without target").
"""

import collections
import dataclasses
import importlib.abc
import sys
import types
from typing import Any

import numpy as np
import pytest

import ckptdb
from ckptdb import _tree
from ckptdb.v1 import _context


def _pytree_field(**kwargs):
  """flax.struct.field stand-in: pytree_node=False marks a static field."""
  return dataclasses.field(metadata={'pytree_node': kwargs.pop(
      'pytree_node', True)}, **kwargs)


@dataclasses.dataclass(frozen=True)
class TrainState:
  """A flax.training.train_state.TrainState stand-in (a frozen
  flax.struct.dataclass: apply_fn and tx are static, not saved)."""
  step: int
  params: Any
  opt_state: Any
  apply_fn: Any = _pytree_field(pytree_node=False, default=None)


MuNu = collections.namedtuple('MuNu', ['mu', 'nu'])


def _state(scale=1.0, apply_fn=None):
  return TrainState(
      step=int(scale * 10),
      params={'dense': {'kernel': np.full((2, 3), scale, np.float32),
                        'bias': np.zeros(3, np.float32)}},
      opt_state=MuNu(mu=np.full(3, scale), nu=np.full(3, 2 * scale)),
      apply_fn=apply_fn)


def _assert_state_equal(got, want):
  assert got.step == want.step
  np.testing.assert_array_equal(got.params['dense']['kernel'],
                                want.params['dense']['kernel'])
  np.testing.assert_array_equal(got.opt_state.nu, want.opt_state.nu)


def test_flax_struct_train_state_round_trips_into_its_class(tmp_path):
  """Orbax getting-started / Flax: `mngr.save(step,
  args=StandardSave(state))`, `mngr.restore(step, args=StandardRestore(
  abstract_state))` gives a TrainState back; static fields come from the
  target (6.7: 'With a target, the result takes the target's structure')."""
  fn = lambda x: x
  with ckptdb.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(1, args=ckptdb.args.StandardSave(_state(3.0, apply_fn=fn)))
    target = _state(0.0, apply_fn=fn)
    got = mngr.restore(1, args=ckptdb.args.StandardRestore(target))
  assert type(got) is TrainState and got.apply_fn is fn
  assert type(got.opt_state) is MuNu
  _assert_state_equal(got, _state(3.0))
  assert target.step == 0 and not target.params['dense']['kernel'].any()


def test_dataclass_without_target_is_a_dict_of_its_fields(tmp_path):
  """orbax-semantics.md 6.7: dataclass / flax.struct / TrainState without a
  target -> dict of field name -> value (no class is imported)."""
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', _state(2.0, apply_fn=print))
  got = ckptr.restore(tmp_path / 'c')
  assert type(got) is dict
  assert sorted(got) == ['opt_state', 'params', 'step']  # apply_fn static
  assert got['step'] == 20
  np.testing.assert_array_equal(got['params']['dense']['kernel'],
                                np.full((2, 3), 2.0, np.float32))


def test_plain_dataclass_and_abstract_target(tmp_path):
  """StandardRestore with abstract leaves (ShapeDtypeStruct stand-ins from
  checkpointer.metadata) inside a dataclass target (6.2)."""

  @dataclasses.dataclass
  class Params:
    w: Any
    b: Any

  ckptr = ckptdb.StandardCheckpointer()
  ckptr.save(tmp_path / 'c', Params(np.arange(4.0), np.ones(2, np.int32)))
  meta = ckptr.metadata(tmp_path / 'c').item_metadata
  abstract = Params(w=meta['w'], b=meta['b'])
  got = ckptr.restore(tmp_path / 'c', abstract)
  assert isinstance(got, Params)
  np.testing.assert_array_equal(got.w, np.arange(4.0))
  assert got.b.dtype == np.int32


def test_namedtuple_target_is_rebuilt(tmp_path):
  """orbax test_tree_utils TEST_PYTREES' MuNu: with a target the NamedTuple
  type comes back."""
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'opt': MuNu(np.ones(2), np.zeros(2))})
  got = ckptr.restore(tmp_path / 'c',
                      item={'opt': MuNu(np.zeros(2), np.zeros(2))})
  assert type(got['opt']) is MuNu
  np.testing.assert_array_equal(got['opt'].mu, np.ones(2))


class Box:
  """A class that is a pytree node only once registered."""

  def __init__(self, items, label):
    self.items = items
    self.label = label


def test_registered_class_round_trips(tmp_path):
  """jax.tree_util.register_pytree_node's contract, through
  ckptdb.tree.register_pytree_node (flatten -> (children, aux))."""
  ckptdb.tree.register_pytree_node(
      Box, lambda b: (b.items, b.label), lambda aux, ch: Box(list(ch), aux))
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'box': Box([np.arange(3), 5], 'saved')})
  got = ckptr.restore(tmp_path / 'c',
                      item={'box': Box([np.zeros(3, np.int64), 0], 'mine')})
  assert isinstance(got['box'], Box) and got['box'].label == 'mine'
  np.testing.assert_array_equal(got['box'].items[0], np.arange(3))
  assert got['box'].items[1] == 5
  # Without a target: the children (unnamed, as FlattenedIndexKey) as a list.
  raw = ckptr.restore(tmp_path / 'c')
  assert isinstance(raw['box'], list) and raw['box'][1] == 5


def test_unregistered_object_is_refused(tmp_path):
  """Orbax: unregistered leaf types fail to save (6.6, 'TypeHandler lookup
  failed')."""
  with pytest.raises(TypeError, match='Opaque'):
    ckptdb.PyTreeCheckpointer().save(tmp_path / 'c', {'x': Opaque()})


class Opaque:
  pass


# ---- JAX's tree_util, faked ------------------------------------------------


class _GetAttrKey:
  def __init__(self, name):
    self.name = name


_GetAttrKey.__name__ = 'GetAttrKey'


class Point:
  """Known to the fake jax.tree_util only (not to ckptdb)."""

  def __init__(self, x, y):
    self.x, self.y = x, y


class _Treedef:
  def __init__(self, cls):
    self.cls = cls

  def unflatten(self, leaves):
    return self.cls(*leaves)


def _fake_flatten_with_path(tree, is_leaf=None):
  if isinstance(tree, Point) and not (is_leaf and is_leaf(tree)):
    return ([((_GetAttrKey('x'),), tree.x), ((_GetAttrKey('y'),), tree.y)],
            _Treedef(Point))
  return [((), tree)], None


@pytest.fixture
def fake_jax(monkeypatch):
  jax = types.ModuleType('jax')
  jax.tree_util = types.SimpleNamespace(
      tree_flatten_with_path=_fake_flatten_with_path, GetAttrKey=_GetAttrKey)
  monkeypatch.setitem(sys.modules, 'jax', jax)
  return jax


def test_jax_flattened_node_round_trips(tmp_path, fake_jax):
  """Issue 16: anything jax.tree_util flattens (with key paths) is a node;
  with a target it is rebuilt through JAX's treedef, without one it is a
  dict of its GetAttrKey names (6.6: GetAttrKey is a DICT key)."""
  del fake_jax
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'p': Point(np.arange(2.0), 7)})
  got = ckptr.restore(tmp_path / 'c', item={'p': Point(np.zeros(2), 0)})
  assert isinstance(got['p'], Point) and got['p'].y == 7
  np.testing.assert_array_equal(got['p'].x, np.arange(2.0))
  assert ckptr.restore(tmp_path / 'c')['p']['y'] == 7


def test_without_jax_such_a_node_is_refused(tmp_path):
  """Without JAX (here) the same class is an unknown leaf."""
  assert 'jax' not in sys.modules
  with pytest.raises(TypeError, match='Point'):
    ckptdb.PyTreeCheckpointer().save(tmp_path / 'c', {'p': Point(1, 2)})


class _JaxLookups(importlib.abc.MetaPathFinder):
  """Counts the searches for a module named jax (and finds nothing)."""

  def __init__(self):
    self.count = 0

  def find_spec(self, name, path=None, target=None):
    del path, target
    if name == 'jax':
      self.count += 1
    return None


def test_without_jax_the_import_is_tried_once(tmp_path, monkeypatch):
  """Python does not remember a failed import: retried for every object of
  a restore target (each leaf's dtype), it made a 100,000-leaf restore
  with a target 15x slower than without. The failure is remembered, by
  every module that looks for jax."""
  assert 'jax' not in sys.modules
  monkeypatch.setattr(_tree, '_jax_import_failed', False)
  lookups = _JaxLookups()
  monkeypatch.setattr(sys, 'meta_path', [lookups] + sys.meta_path)
  tree = {f'l{i}': np.full(2, i, np.float32) for i in range(50)}
  ckptr = ckptdb.StandardCheckpointer()
  ckptr.save(tmp_path / 'c', args=ckptdb.args.StandardSave(tree))
  got = ckptr.restore(tmp_path / 'c', args=ckptdb.args.StandardRestore(tree))
  np.testing.assert_array_equal(got['l49'], tree['l49'])
  ckptdb.utils.to_shape_dtype_struct(np.ones(2))
  assert ckptdb.multihost.process_index() == 0
  _context._map_with_keypath(lambda path, x: x, {'a': [1, 2]})
  assert lookups.count == 1


# ---- ocp.tree -------------------------------------------------------------


def test_to_flat_dict_docstring_example():
  """orbax.checkpoint.tree.to_flat_dict's docstring: {'foo': 1, 'bar':
  {'a': 2, 'b': {}}} -> {('foo',): 1, ('bar', 'a'): 2}."""
  tree = {'foo': 1, 'bar': {'a': 2, 'b': {}}}
  assert ckptdb.tree.to_flat_dict(tree) == {('foo',): 1, ('bar', 'a'): 2}
  assert ckptdb.tree.to_flat_dict(tree, sep='.') == {'foo': 1, 'bar.a': 2}
  assert ckptdb.tree.to_flat_dict(tree, keep_empty_nodes=True) == {
      ('foo',): 1, ('bar', 'a'): 2, ('bar', 'b'): {}}


def test_to_flat_dict_keys_are_strings_for_every_node_kind():
  """tuple_path_from_keypath: str(key name) for SequenceKey, DictKey and
  GetAttrKey (dataclass fields, namedtuple fields)."""
  flat = ckptdb.tree.to_flat_dict(_state(1.0))
  assert ('params', 'dense', 'kernel') in flat
  assert ('opt_state', '1') in flat and ('step',) in flat
  assert ('apply_fn',) not in flat


def test_from_flat_dict_with_and_without_target():
  """orbax.checkpoint.tree.from_flat_dict: with target, the target's
  structure; without, nested dicts inferred from the keys."""
  state = _state(1.0)
  flat = ckptdb.tree.to_flat_dict(state)
  flat = {k: v * 2 if isinstance(v, np.ndarray) else v
          for k, v in flat.items()}
  got = ckptdb.tree.from_flat_dict(flat, target=state)
  assert type(got) is TrainState and type(got.opt_state) is MuNu
  np.testing.assert_array_equal(got.opt_state.nu, np.full(3, 4.0))
  nested = ckptdb.tree.from_flat_dict({'a.b': 1, 'a.c': 2, 'd': 3}, sep='.')
  assert nested == {'a': {'b': 1, 'c': 2}, 'd': 3}
  with pytest.raises(KeyError):
    ckptdb.tree.from_flat_dict({('step',): 1}, target=state)


def test_restore_args_tree_mirrors_a_dataclass(tmp_path):
  """flax orbax_utils.restore_args_from_target over a TrainState: per-leaf
  RestoreArgs(dtype=...) inside the dataclass still cast the leaves."""
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', _state(1.0))
  target = _state(0.0)
  target = dataclasses.replace(target, opt_state=MuNu(
      np.zeros(3, np.float32), np.zeros(3, np.float32)))
  restore_args = ckptdb.orbax_utils.restore_args_from_target(target)
  assert isinstance(restore_args, TrainState)
  got = ckptr.restore(tmp_path / 'c', item=target, restore_args=restore_args)
  assert got.opt_state.mu.dtype == np.float32
