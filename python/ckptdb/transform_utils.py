"""Orbax's `ocp.transform_utils`: restore a checkpoint into a new structure.

    restored = ckptr.restore(path, args=ocp.args.PyTreeRestore(
        item={'c': ..., 'd': np.arange(8)},
        restore_args={'c': ocp.RestoreArgs()},
        transforms={'c': ocp.Transform(original_key='a')}))

Same rules as Orbax's transform_utils.py and PyTreeCheckpointHandler: keys
of `transforms` (and of the flattened trees) are '/'-joined paths matched
as regular expressions (re.fullmatch); `original_key` may use the match's
backreferences; `use_fallback` takes the value from `item` (or, with
transforms_default_to_original=False, from the checkpoint); `value_fn`
maps one original value, a RestoreTransform's `multi_value_fn(key, tree,
restore_args)` computes a value from the original tree, which holds the
checkpoint leaves named (as regexes) by `multi_value_fn_input_args`.
Keys of `item` no transform names are carried over from the checkpoint
(transforms_default_to_original=True, the default) or kept from `item`;
`item` leaves found nowhere keep their value. Only the checkpoint leaves
the result needs are read.
"""

import dataclasses
import functools
import operator
import re
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

from ckptdb import _tree
from ckptdb import _types
from ckptdb import tree as tree_lib

PyTree = Any
ValueFn = Callable[[Any], Any]
MultiValueFn = Callable[[str, PyTree], Any]
RestoreArgs = _types.RestoreArgs


@dataclasses.dataclass
class Transform:
  r"""A transformation of one key of the result tree (Orbax's Transform).

  original_key: the key's name in the checkpoint ('/' between levels; may
    hold backreferences such as \1 when the transform's key is a regex).
  use_fallback: take the value from the fallback tree (`item` when
    default_to_original is True, else the original tree).
  value_fn: maps the original value to the new one.
  multi_value_fn: fn(key, original_tree) -> the new value.
  """
  original_key: Optional[Union[str, Tuple[str]]] = None
  use_fallback: bool = False
  value_fn: Optional[ValueFn] = None
  multi_value_fn: Optional[MultiValueFn] = None

  def __post_init__(self):
    # Orbax's asserts: the options exclude each other.
    if self.original_key is not None:
      assert not self.use_fallback
      assert self.multi_value_fn is None
    if self.use_fallback:
      assert self.original_key is None
      assert self.value_fn is None
      assert self.multi_value_fn is None
    if self.value_fn is not None:
      assert not self.use_fallback
      assert self.multi_value_fn is None
    if self.multi_value_fn is not None:
      assert self.original_key is None
      assert not self.use_fallback
      assert self.value_fn is None


@dataclasses.dataclass
class RestoreTransform(Transform):
  """A Transform used when restoring (Orbax's RestoreTransform).

  multi_value_fn(key, original_tree, restore_args): restore_args are the
  result key's. multi_value_fn_input_args: {regex of a checkpoint key:
  RestoreArgs} -- the checkpoint leaves the function reads (required with
  multi_value_fn when restoring; only these are read for it).
  """
  value_fn: Optional[Callable[..., Any]] = None
  multi_value_fn: Optional[Callable[[str, PyTree, Any], Any]] = None
  multi_value_fn_input_args: Optional[Dict[str, Any]] = None

  def __post_init__(self):
    super().__post_init__()
    if self.original_key is not None:
      assert self.multi_value_fn_input_args is None
    if self.use_fallback:
      assert self.multi_value_fn_input_args is None
    if self.value_fn is not None:
      assert self.multi_value_fn_input_args is None
    if self.multi_value_fn_input_args is not None:
      assert self.original_key is None
      assert not self.use_fallback
      assert self.value_fn is None
      assert self.multi_value_fn is not None


def _flat(tree: PyTree, leaf_types: tuple) -> Dict[str, Any]:
  """{'/'-joined path: value}, values of leaf_types taken whole."""
  return tree_lib.to_flat_dict(tree, sep='/',
                               is_leaf=lambda x: isinstance(x, leaf_types))


def apply_transformations(original_tree: PyTree, transformations: PyTree,
                          new_tree: PyTree,
                          default_to_original: Optional[bool] = True
                         ) -> PyTree:
  """Orbax's apply_transformations: original_tree in new_tree's structure.

  new_tree gives the structure (its None leaves are dropped); each of its
  keys takes, in order of the first transform whose key fully matches it:
  the fallback, value_fn(original[original_key]), or
  multi_value_fn(key, original_tree); without a transform, the original's
  value when default_to_original (else new_tree's own). ValueError if a
  transform's original key is not in the original tree.
  """
  if not tree_lib.to_flat_dict(new_tree) and not new_tree:
    return {}
  original = tree_lib.to_flat_dict(original_tree, sep='/')
  new = tree_lib.to_flat_dict(new_tree, sep='/')
  transforms = _flat(transformations, (Transform,))
  for key in new:
    transform_found = False
    for transform_key, transform in transforms.items():
      match = re.fullmatch(transform_key, key)
      if not match:
        continue
      transform_found = True
      if transform.use_fallback:
        if not default_to_original:
          if key not in original:
            raise ValueError(
                f'{key} not found in origin tree (`use_fallback` requested).')
          new[key] = original[key]
        continue
      if not (transform.multi_value_fn is None or transform.value_fn is None):
        raise ValueError(
            f'Cannot provide both multi_value_fn and value_fn in {transform}')
      if transform.multi_value_fn is None:
        if transform.original_key is None:
          original_key = key
        else:
          original_key = match.expand(transform.original_key)
        if original_key not in original:
          raise ValueError(
              f'Transformation key "{original_key}" not found in origin tree.')
        value_fn = transform.value_fn or (lambda x: x)
        new[key] = value_fn(original[original_key])
      else:
        new[key] = transform.multi_value_fn(key, original_tree)
    if not transform_found and key in original and default_to_original:
      new[key] = original[key]
  return tree_lib.from_flat_dict(new, target=new_tree, sep='/')


def merge_trees(*trees: PyTree, target: Optional[PyTree] = None) -> PyTree:
  """One tree with every key of `trees` (the last tree wins on overlap)."""
  flats = [tree_lib.to_flat_dict(t) for t in trees]
  merged = functools.reduce(operator.ior, flats, {})
  return tree_lib.from_flat_dict(merged, target=target)


def intersect_trees(*trees: PyTree, target: Optional[PyTree] = None
                   ) -> PyTree:
  """The keys common to all `trees` (values from the last one)."""
  flats = [tree_lib.to_flat_dict(t) for t in trees]
  keys = set.intersection(*[set(t) for t in flats])
  return tree_lib.from_flat_dict({k: flats[-1][k] for k in keys},
                                 target=target)


# ---- restoring with transforms (PyTreeRestore(transforms=...)) -------------

_NO_ARGS = object()


def is_bytes_leaf(x: Any) -> bool:
  """A stored bytes leaf ({'__ckptdb_bytes__': array or its metadata})."""
  return (isinstance(x, dict) and len(x) == 1 and
          _tree.BYTES_MARKER in x)


def _saved_leaves(structure: Any) -> List[str]:
  """'/'-joined paths of the saved tree's leaves (bytes leaves whole)."""
  out: List[str] = []

  def walk(x: Any, path: str) -> None:
    if is_bytes_leaf(x):
      out.append(path)
      return
    node = _tree.flatten_one_level(x)
    if node is None:
      if x is not None:
        out.append(path)
      return
    for k, c in zip(node.keys, node.children):
      walk(c, _tree.join_path(path, k))

  walk(structure, '')
  return out


def _input_args(input_key: str, item_keys: List[str],
                transforms: Dict[str, Transform],
                restore_args: Dict[str, Any]) -> Any:
  """Orbax's _find_matching_input_args: the restore args of the result key
  that reads checkpoint key `input_key` (or a multi_value_fn's input args),
  else _NO_ARGS."""
  for transform_key, transform in transforms.items():
    if transform.multi_value_fn is not None:
      if not isinstance(transform, RestoreTransform):
        raise ValueError('Must use RestoreTransform in order to use '
                         'multi_value_fn during restore.')
      if transform.multi_value_fn_input_args is None:
        raise ValueError(
            '`multi_value_fn` was specified, but `multi_value_fn_input_args` '
            'were not. The latter must be specified to identify inputs for '
            'the function.')
      for regex, args in transform.multi_value_fn_input_args.items():
        if re.fullmatch(regex, input_key):
          return args
    elif not transform.use_fallback:
      for output_key in item_keys:
        match = re.fullmatch(transform_key, output_key)
        if match:
          pattern = (output_key if transform.original_key is None else
                     match.expand(transform.original_key))
          if pattern == input_key:
            return restore_args.get(output_key)
  return _NO_ARGS


def _has_fallback(input_key: str, transforms: Dict[str, Transform]) -> bool:
  return any(t.use_fallback and re.fullmatch(k, input_key)
             for k, t in transforms.items())


def restore_plan(structure: Any, item: Any, restore_args: Any,
                 transforms: Any, default_to_original: bool
                ) -> Tuple[Dict[str, Any], Callable[[Any], Any]]:
  """Which saved leaves to read, with which args, and how to finish.

  structure: the saved tree (metadata leaves). Returns ({saved leaf path:
  its RestoreArgs or None} for the leaves to read, finish(restored) -> the
  result in item's structure), following Orbax's _get_restore_parameters
  and _transform_checkpoint.
  """
  if item is None:
    raise ValueError('If providing `transforms`, must provide `item` matching'
                     ' structure of expected result.')
  if restore_args is None:
    raise ValueError('If providing `transforms`, must provide `restore_args` '
                     'matching structure of expected result.')
  flat_transforms = _flat(transforms, (Transform,))
  flat_args = _flat(restore_args, (_types.RestoreArgs,))
  item_keys = list(tree_lib.to_flat_dict(item, sep='/', keep_empty_nodes=True))
  needed: Dict[str, Any] = {}
  for input_key in _saved_leaves(structure):
    args = _input_args(input_key, item_keys, flat_transforms, flat_args)
    if args is not _NO_ARGS:
      needed[input_key] = args
    elif input_key in item_keys:
      # In both: read unless it will be replaced by the item's value.
      if _has_fallback(input_key, flat_transforms) != default_to_original:
        needed[input_key] = flat_args.get(input_key)

  def with_args(transform: Any) -> Any:
    if transform.multi_value_fn is None:
      return transform
    fn = transform.multi_value_fn
    return Transform(multi_value_fn=lambda key, tree: fn(
        key, tree, flat_args.get(key)))

  def finish(restored: Any) -> Any:
    wrapped = _tree.map_leaves(
        with_args, transforms, is_leaf=lambda x: isinstance(x, Transform))
    return apply_transformations(restored, wrapped, item, default_to_original)

  return needed, finish
