"""ocp.transform_utils / ocp.Transform and restoring with `transforms`.

Cases reproduce Orbax's checkpoint/orbax/checkpoint/transform_utils_test.py
(apply_transformations), _src/handlers/pytree_checkpoint_handler_test.py
(test_transform, test_partial_restore, test_flax_transform) and the
"Checkpointing PyTrees" guide (docs/guides/checkpoint/
checkpointing_pytrees.ipynb, `transforms` with `original_key`), with numpy
in place of JAX.
"""

import re

import numpy as np
import pytest

import ckptdb as ocp
from ckptdb import _tree
from ckptdb import tree as tree_utils
from ckptdb.transform_utils import RestoreTransform
from ckptdb.transform_utils import Transform
from ckptdb.transform_utils import apply_transformations

ORIGINAL = {'a': 0, 'b': 1, 'c': {'a': 2, 'e': 3}}


def _empty_pytree(tree):
  return _tree.map_leaves(lambda x: object(), tree)


def test_names_are_exported():
  """orbax/checkpoint/__init__.py exports transform_utils, Transform,
  RestoreTransform, apply_transformations, merge_trees."""
  assert ocp.Transform is ocp.transform_utils.Transform is Transform
  assert ocp.RestoreTransform is RestoreTransform
  assert ocp.apply_transformations is apply_transformations
  assert ocp.merge_trees is ocp.transform_utils.merge_trees
  assert ocp.transforms is ocp.transform_utils


def test_empty_and_no_transform():
  """transform_utils_test: test_empty, test_no_transform."""
  assert apply_transformations({}, {}, {}) == {}
  assert apply_transformations({'a': 0, 'b': 1}, {}, {}) == {}
  assert apply_transformations({}, {}, {'a': 1}) == {'a': 1}
  transforms = _tree.map_leaves(lambda _: Transform(), ORIGINAL)
  assert apply_transformations(ORIGINAL, transforms,
                               _empty_pytree(ORIGINAL)) == ORIGINAL


def test_transform_missing_in_original():
  """transform_utils_test: test_transform_missing_in_original."""
  with pytest.raises(ValueError, match='not found in origin tree'):
    apply_transformations({'a': 1}, {'b': Transform()}, {'b': ...})


def test_rename():
  """transform_utils_test: test_rename (copies, moves, fallback, new key)."""
  transforms = {
      'a1': Transform(original_key='a'),
      'c': {'a': Transform()},
      'e1': Transform(original_key='c/e'),
      'f': Transform(use_fallback=True),
      'ca1': Transform(original_key='c/a'),
      'ca2': Transform(original_key='c/a'),
  }
  fallback = {'a1': ..., 'c': {'a': ...}, 'e1': ..., 'f': None, 'g': 100,
              'ca1': ..., 'ca2': ...}
  expected = {'a1': 0, 'c': {'a': 2}, 'e1': 3, 'f': None, 'g': 100,
              'ca1': 2, 'ca2': 2}
  assert apply_transformations(ORIGINAL, transforms, fallback) == expected


def test_partial_transformation():
  """transform_utils_test: test_partial_transformation (keys without a
  transform are carried over from the original)."""
  transforms = {'a1': Transform(original_key='a'),
                'e1': Transform(original_key='c/e'),
                'e2': Transform(original_key='c/e')}
  fallback = {'a': ..., 'a1': ..., 'c': {'a': ..., 'e': ...}, 'e1': ...,
              'e2': ..., 'f': None, 'g': 2}
  expected = {'a': 0, 'a1': 0, 'c': {'a': 2, 'e': 3}, 'e1': 3, 'e2': 3,
              'f': None, 'g': 2}
  assert apply_transformations(ORIGINAL, transforms, fallback) == expected


def test_default_new_and_missing_key():
  """transform_utils_test: test_default_new, test_missing_key_default."""
  transforms = {'a': Transform(use_fallback=True),
                'b1': Transform(original_key='b')}
  new = {'a': ..., 'c': {'a': 10, 'e': 11}, 'b1': ..., 'f': None, 'g': 2}
  assert apply_transformations(ORIGINAL, transforms, new,
                               default_to_original=False) == {
                                   'a': 0, 'c': {'a': 10, 'e': 11}, 'b1': 1,
                                   'f': None, 'g': 2}
  transforms = {'f': Transform(use_fallback=True)}
  new = {'a': 2, 'b': 3, 'c': {'a': 7, 'e': 8}, 'f': 20}
  with pytest.raises(ValueError, match='`use_fallback` requested'):
    apply_transformations(ORIGINAL, transforms, new, default_to_original=False)
  assert apply_transformations(ORIGINAL, transforms, new) == {
      'a': 0, 'b': 1, 'c': {'a': 2, 'e': 3}, 'f': 20}


def test_regex():
  """transform_utils_test: test_regex (backreferences, nested keys)."""
  original = {'a1': 1, 'c': {'a2': {'d': 2}, 'a3': 3},
              'd': {'e1': 2, 'e2': 4}, 'f': {'e3': 6, 'e4': {'a': 1}}}
  transforms = {
      r'(.*)x(\d.*)': Transform(original_key=r'\1a\2'),
      r'(.*)y(\d)': Transform(original_key=r'\1e\2',
                              value_fn=lambda val: val * 2),
  }
  expected = {'x1': 1, 'c': {'x2': {'d': 2}, 'x3': 3},
              'd': {'y1': 4, 'y2': 8}, 'f': {'y3': 12}}
  assert apply_transformations(original, transforms,
                               _empty_pytree(expected)) == expected


def test_transform_options_exclude_each_other():
  """transform_utils.py Transform.__post_init__ asserts."""
  with pytest.raises(AssertionError):
    Transform(original_key='a', use_fallback=True)
  with pytest.raises(AssertionError):
    Transform(value_fn=abs, multi_value_fn=lambda k, t: 0)
  with pytest.raises(AssertionError):
    RestoreTransform(original_key='a', multi_value_fn_input_args={'a': 1})


def test_merge_and_intersect_trees():
  """transform_utils.merge_trees / intersect_trees: last tree wins."""
  merged = ocp.merge_trees({'a': 1, 'b': {'c': 2}}, {'b': {'d': 3}, 'a': 4})
  assert merged == {'a': 4, 'b': {'c': 2, 'd': 3}}
  assert ocp.transform_utils.intersect_trees(
      {'a': 1, 'b': 2}, {'b': 3, 'c': 4}) == {'b': 3}


# ---- restoring with transforms ----------------------------------------------


def test_guide_rename_with_original_key(tmp_path):
  """checkpointing_pytrees.ipynb, "Restoring": `transforms={'c':
  ocp.Transform(original_key='a')}` with an extra key 'd' in `item`;
  restore_args relative to the result; 'a' saved as int16 by save_args."""
  state = {'a': np.arange(16), 'b': np.ones(16)}
  ckptr = ocp.AsyncCheckpointer(ocp.PyTreeCheckpointHandler())
  path = tmp_path / 'advanced'
  ckptr.save(path / '2', args=ocp.args.PyTreeSave(
      state, save_args={'a': ocp.SaveArgs(dtype=np.dtype(np.int16)),
                        'b': ocp.SaveArgs()}))
  ckptr.wait_until_finished()
  restored = ckptr.restore(
      path / '2',
      args=ocp.args.PyTreeRestore(
          item={'c': ..., 'd': np.arange(8)},
          restore_args={'c': ocp.RestoreArgs(restore_type=np.ndarray)},
          transforms={'c': ocp.Transform(original_key='a')},
      ),
  )
  assert list(restored) == ['c', 'd']
  assert restored['c'].dtype == np.int16
  np.testing.assert_array_equal(restored['c'], np.arange(16))
  np.testing.assert_array_equal(restored['d'], np.arange(8))
  ckptr.close()


def _spy_restore(monkeypatch, ckptr):
  """Records the restore target the core is given."""
  seen = {}
  core = ckptr._core  # pylint: disable=protected-access

  class Spy:
    def __getattr__(self, name):
      return getattr(core, name)

    def restore(self, path, **kwargs):
      seen.update(kwargs)
      return core.restore(path, **kwargs)

  monkeypatch.setattr(ckptr, '_core', Spy())
  return seen


def _pytree():
  return {'a': np.arange(8), 'b': np.arange(8) * 2,
          'c': {'a': np.arange(4.0), 'e': np.ones(3)},
          'int_key': 5, 'float_key': 2.5}


def test_handler_transform(tmp_path, monkeypatch):
  """pytree_checkpoint_handler_test.test_transform: value_fn, rename,
  nested value_fn, a RestoreTransform multi_value_fn with its input args
  (a strict=False ArrayRestoreArgs pads 'b'), a function of a scalar with
  the result key's restore args, use_fallback, and an item-only key."""
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', _pytree())
  seen_args = {}

  def _split(key, tree, args):
    seen_args[key] = args
    return np.asarray(tree['float_key'] * (2 if key == 'split1' else 4))

  item = {'x': 0, 'y': 0, 'c': {'a': 0}, 'z': 100, 'int_key': 0,
          'added': 0, 'split1': 0, 'split2': 0, 'fallback': np.arange(4)}
  restore_args = {
      'x': ocp.RestoreArgs(), 'y': ocp.RestoreArgs(),
      'c': {'a': ocp.RestoreArgs()}, 'z': ocp.RestoreArgs(restore_type=int),
      'int_key': ocp.RestoreArgs(restore_type=int),
      'split1': ocp.ArrayRestoreArgs(), 'split2': ocp.RestoreArgs(
          restore_type=np.ndarray),
      'added': ocp.RestoreArgs(restore_type=None),
      'fallback': ocp.RestoreArgs(restore_type=None),
  }
  transforms = {
      'x': Transform(original_key='a', value_fn=lambda x: x * 2 + 3),
      'y': Transform(original_key='c/e'),
      'c': {'a': Transform(value_fn=lambda x: x * 2 + 3)},
      'int_key': Transform(value_fn=lambda x: x + 2),
      'added': RestoreTransform(
          multi_value_fn=lambda key, tree, args: tree['a'] + tree['b'][:8],
          multi_value_fn_input_args={
              'a': ocp.ArrayRestoreArgs(strict=False),
              'b': ocp.ArrayRestoreArgs(global_shape=(16,), strict=False)}),
      'split1': RestoreTransform(
          multi_value_fn=_split,
          multi_value_fn_input_args={'float_key': ocp.RestoreArgs(
              restore_type=float)}),
      'split2': RestoreTransform(
          multi_value_fn=_split,
          multi_value_fn_input_args={'float_key': ocp.RestoreArgs(
              restore_type=float)}),
      'fallback': Transform(use_fallback=True),
  }
  seen = _spy_restore(monkeypatch, ckptr)
  got = ckptr.restore(tmp_path / 'c', args=ocp.args.PyTreeRestore(
      item=item, restore_args=restore_args, transforms=transforms))
  p = _pytree()
  np.testing.assert_array_equal(got['x'], p['a'] * 2 + 3)
  np.testing.assert_array_equal(got['y'], p['c']['e'])
  np.testing.assert_array_equal(got['c']['a'], p['c']['a'] * 2 + 3)
  assert got['z'] == 100 and got['int_key'] == 7
  np.testing.assert_array_equal(got['added'], p['a'] + p['b'])
  assert float(got['split1']) == 5.0 and float(got['split2']) == 10.0
  np.testing.assert_array_equal(got['fallback'], np.arange(4))
  assert list(got) == list(item)
  # multi_value_fn gets the result key's restore args.
  assert seen_args['split1'] is restore_args['split1']
  assert seen_args['split2'] is restore_args['split2']
  # Every saved leaf feeds some result key here, so none is skipped.
  assert not any(v is ocp.PLACEHOLDER for v in
                 tree_utils.to_flat_dict(seen['target']).values())


def test_only_needed_leaves_are_read(tmp_path, monkeypatch):
  """pytree_checkpoint_handler_test.test_partial_restore: with
  `transforms={}` only the item's keys are restored (Orbax asserts the
  array handler deserializes just those); here the other saved leaves are
  PLACEHOLDER in the core's restore target."""
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', _pytree())
  seen = _spy_restore(monkeypatch, ckptr)
  got = ckptr.restore(tmp_path / 'c', args=ocp.args.PyTreeRestore(
      item={'a': 0, 'c': {'a': 0}},
      restore_args={'a': ocp.RestoreArgs(), 'c': {'a': ocp.RestoreArgs()}},
      transforms={}))
  np.testing.assert_array_equal(got['a'], np.arange(8))
  np.testing.assert_array_equal(got['c']['a'], np.arange(4.0))
  assert list(got) == ['a', 'c'] and list(got['c']) == ['a']
  flat = tree_utils.to_flat_dict(seen['target'], sep='/')
  placeholders = sorted(k for k, v in flat.items() if v is ocp.PLACEHOLDER)
  assert placeholders == ['b', 'c/e', 'float_key', 'int_key']


def test_flax_transform_regex_layers(tmp_path):
  """pytree_checkpoint_handler_test.test_flax_transform: a larger model's
  new layer 0 uses the fallback, layer 1 is old layer 0 through value_fn
  (backreferences in original_key), layer 2 is old layers 0 + 1
  (multi_value_fn over regex input args), layer 3 is new."""
  rng = np.random.default_rng(0)

  def dense(n_in, n_out):
    return {'kernel': rng.standard_normal((n_in, n_out)).astype(np.float32),
            'bias': rng.standard_normal(n_out).astype(np.float32)}

  old = {'params': {'Dense_0': dense(8, 8), 'Dense_1': dense(8, 8)},
         'step': 3}
  new = {'params': {'Dense_0': dense(8, 8), 'Dense_1': dense(8, 8),
                    'Dense_2': dense(8, 8), 'Dense_3': dense(8, 4)},
         'step': 0}
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', args=ocp.args.PyTreeSave(old))
  value_fn = lambda x: x * 2 + 1

  def _add(key, tree, args):
    del args
    flat = tree_utils.to_flat_dict(tree, sep='/')
    match = re.fullmatch('(.*)Dense_2(.*)', key)
    assert match
    return (flat[match.expand(r'\1Dense_0\2')] +
            flat[match.expand(r'\1Dense_1\2')])

  transformations = {
      r'(.*)Dense_0(.*)': Transform(use_fallback=True),
      r'(.*)Dense_1(.*)': Transform(original_key=r'\1Dense_0\2',
                                    value_fn=value_fn),
      r'(.*)Dense_2(.*)': RestoreTransform(
          multi_value_fn=_add,
          multi_value_fn_input_args={r'.*Dense_[0,1].*': ocp.RestoreArgs()}),
  }
  restore_args = _tree.map_leaves(
      lambda arr: ocp.RestoreArgs(restore_type=type(arr)), new)
  got = ckptr.restore(tmp_path / 'c', args=ocp.args.PyTreeRestore(
      item=new, restore_args=restore_args, transforms=transformations))
  old_flat = tree_utils.to_flat_dict(old, sep='/')
  expected = {}
  for k, v in tree_utils.to_flat_dict(new, sep='/').items():
    if 'Dense_1' in k:
      expected[k] = value_fn(old_flat[k.replace('Dense_1', 'Dense_0')])
    elif 'Dense_2' in k:
      expected[k] = (old_flat[k.replace('Dense_2', 'Dense_1')] +
                     old_flat[k.replace('Dense_2', 'Dense_0')])
    elif 'Dense_' in k:
      expected[k] = v
    else:
      expected[k] = old_flat[k]
  got_flat = tree_utils.to_flat_dict(got, sep='/')
  assert list(got_flat) == list(expected)
  for k in expected:
    np.testing.assert_array_equal(got_flat[k], expected[k], err_msg=k)


def test_fallback_with_default_to_original_false(tmp_path):
  """PyTreeRestore(transforms_default_to_original=False): keys without a
  transform keep the item's value, a use_fallback key takes the
  checkpoint's (pytree_checkpoint_handler._get_restore_parameters)."""
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'a': np.arange(3), 'b': np.ones(2)})
  got = ckptr.restore(tmp_path / 'c', args=ocp.args.PyTreeRestore(
      item={'a': np.zeros(3, np.int64), 'b': np.zeros(2)},
      restore_args={'a': ocp.RestoreArgs(), 'b': ocp.RestoreArgs()},
      transforms={'a': Transform(use_fallback=True)},
      transforms_default_to_original=False))
  np.testing.assert_array_equal(got['a'], np.arange(3))
  np.testing.assert_array_equal(got['b'], np.zeros(2))


def test_restore_args_cast_the_renamed_leaf(tmp_path):
  """_find_matching_input_args: a renamed key is read with the result
  key's restore args (here a dtype cast)."""
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'old': np.arange(4, dtype=np.int64),
                              'blob': b'\x00\x01'})
  got = ckptr.restore(tmp_path / 'c', args=ocp.args.PyTreeRestore(
      item={'new': ..., 'data': ...},
      restore_args={'new': ocp.RestoreArgs(dtype=np.float32)},
      transforms={'new': Transform(original_key='old'),
                  'data': Transform(original_key='blob')}))
  assert got['new'].dtype == np.float32 and got['data'] == b'\x00\x01'
  np.testing.assert_array_equal(got['new'], np.arange(4))


def test_transform_errors(tmp_path):
  """Orbax's errors: transforms need `item` and `restore_args`; a
  multi_value_fn needs RestoreTransform with multi_value_fn_input_args;
  transforms and legacy_transform_fn exclude each other."""
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'a': np.arange(3)})
  restore = lambda **kw: ckptr.restore(tmp_path / 'c',
                                       args=ocp.args.PyTreeRestore(**kw))
  with pytest.raises(ValueError, match='must provide `item`'):
    restore(transforms={'a': Transform()})
  with pytest.raises(ValueError, match='must provide `restore_args`'):
    restore(item={'a': 0}, transforms={'a': Transform()})
  with pytest.raises(ValueError, match='Must use RestoreTransform'):
    restore(item={'x': 0}, restore_args={'x': ocp.RestoreArgs()},
            transforms={'x': Transform(multi_value_fn=lambda k, t: 0)})
  with pytest.raises(ValueError, match='multi_value_fn_input_args'):
    restore(item={'x': 0}, restore_args={'x': ocp.RestoreArgs()},
            transforms={'x': RestoreTransform(
                multi_value_fn=lambda k, t, a: 0)})
  with pytest.raises(ValueError, match='Cannot provide both'):
    restore(item={'a': 0}, transforms={}, legacy_transform_fn=lambda *a: a)
  with pytest.raises(NotImplementedError, match='legacy_transform_fn'):
    restore(item={'a': 0}, legacy_transform_fn=lambda *a: a)
  # ckptdb's in_place opt-in does not apply to a transformed result.
  with pytest.raises(ValueError, match='in_place'):
    restore(item={'a': 0}, restore_args={'a': ocp.RestoreArgs()},
            transforms={}, in_place=True)


def test_transforms_through_manager_and_legacy_call(tmp_path):
  """The same restore through CheckpointManager (single and Composite
  items) and the legacy keyword style (Checkpointer.restore(path, item=,
  restore_args=, transforms=))."""
  tree = {'w': np.arange(6.0), 'n': 2}
  item = {'weights': ..., 'n': 0}
  restore_args = {'weights': ocp.RestoreArgs(), 'n': ocp.RestoreArgs()}
  transforms = {'weights': Transform(original_key='w')}
  with ocp.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ocp.args.PyTreeSave(tree))
    mngr.wait_until_finished()
    got = mngr.restore(0, args=ocp.args.PyTreeRestore(
        item=item, restore_args=restore_args, transforms=transforms))
  np.testing.assert_array_equal(got['weights'], tree['w'])
  assert got['n'] == 2
  with ocp.CheckpointManager(tmp_path / 'm2') as mngr:
    mngr.save(0, args=ocp.args.Composite(state=ocp.args.PyTreeSave(tree)))
    mngr.wait_until_finished()
    got = mngr.restore(0, args=ocp.args.Composite(
        state=ocp.args.PyTreeRestore(item=item, restore_args=restore_args,
                                     transforms=transforms)))
  np.testing.assert_array_equal(got.state['weights'], tree['w'])
  ckptr = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
  ckptr.save(tmp_path / 'c', args=ocp.args.Composite(
      state=ocp.args.PyTreeSave(tree), other=ocp.args.JsonSave({'k': 1})))
  got = ckptr.restore(tmp_path / 'c', args=ocp.args.Composite(
      state=ocp.args.PyTreeRestore(item=item, restore_args=restore_args,
                                   transforms=transforms)))
  np.testing.assert_array_equal(got.state['weights'], tree['w'])
  legacy = ocp.PyTreeCheckpointer()
  legacy.save(tmp_path / 'l', tree)
  got = legacy.restore(tmp_path / 'l', item=item, restore_args=restore_args,
                       transforms=transforms)
  np.testing.assert_array_equal(got['weights'], tree['w'])


class _FakeJaxArray:
  """jax.Array stand-in: a device array with a sharding."""

  def __init__(self, value, sharding):
    self.value = np.asarray(value)
    self.sharding = sharding
    self.shape, self.dtype = self.value.shape, self.value.dtype

  def __array__(self, dtype=None, copy=None):
    del copy
    return self.value if dtype is None else self.value.astype(dtype)


def test_transforms_rebuild_jax_arrays_of_the_item(tmp_path, monkeypatch):
  """pytree_checkpoint_handler_test.test_transform restores into an item of
  jax.Arrays and gets jax.Arrays back (with the item's shardings), as a
  restore without transforms does (issue 16: a jax.Array target leaf comes
  back as one). Renamed, value_fn and default-to-original leaves alike;
  non-array leaves stay as they are. JAX faked."""
  jax = __import__('types').ModuleType('jax')
  jax.Array = _FakeJaxArray
  jax.device_put = lambda x, sharding: _FakeJaxArray(x, sharding)
  monkeypatch.setitem(__import__('sys').modules, 'jax', jax)
  ckptr = ocp.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', {'a': np.arange(4), 'b': np.ones(2),
                              'n': 7})
  s1, s2, s3 = object(), object(), object()
  item = {'renamed': _FakeJaxArray(np.zeros(4, np.int64), s1),
          'scaled': _FakeJaxArray(np.zeros(2), s2),
          'b': _FakeJaxArray(np.zeros(2), s3), 'n': 0}
  got = ckptr.restore(tmp_path / 'c', args=ocp.args.PyTreeRestore(
      item=item,
      restore_args=ocp.checkpoint_utils.construct_restore_args(item),
      transforms={'renamed': Transform(original_key='a'),
                  'scaled': Transform(original_key='b',
                                      value_fn=lambda v: v * 3)}))
  assert list(got) == ['renamed', 'scaled', 'b', 'n']
  for key, sharding in (('renamed', s1), ('scaled', s2), ('b', s3)):
    assert isinstance(got[key], _FakeJaxArray), key
    assert got[key].sharding is sharding and got[key] is not item[key]
  np.testing.assert_array_equal(got['renamed'].value, np.arange(4))
  np.testing.assert_array_equal(got['scaled'].value, [3.0, 3.0])
  np.testing.assert_array_equal(got['b'].value, np.ones(2))
  assert got['n'] == 7
  assert not item['renamed'].value.any()  # the item is untouched
