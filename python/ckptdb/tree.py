"""Orbax's `ocp.tree` helpers, and pytree registration for ckptdb.

    ckptdb.tree.register_pytree_node(MyState, flatten_fn, unflatten_fn)
    flat = ckptdb.tree.to_flat_dict(tree)            # {('a', 'b'): leaf}
    tree = ckptdb.tree.from_flat_dict(flat, target)  # target's structure

A pytree is nested dicts, lists and tuples (namedtuples too), dataclasses
(flax.struct.dataclass: fields marked pytree_node=False are static, not
saved), registered classes and, when JAX is importable, anything
jax.tree_util flattens. None and empty containers are empty nodes, as in JAX.
"""

from typing import Any, Callable, Dict, Optional, Tuple

from ckptdb import _tree

PyTree = Any


def register_pytree_node(nodetype: type,
                         flatten_func: Callable[[Any], Tuple[Any, Any]],
                         unflatten_func: Callable[[Any, Any], Any]) -> None:
  """Makes ckptdb treat instances of `nodetype` as pytree nodes.

  Same contract as jax.tree_util.register_pytree_node: flatten_func(node)
  returns (children, aux_data); unflatten_func(aux_data, children) rebuilds
  the node. The children are saved as a list; restoring with a target of
  this type rebuilds it with unflatten_func (aux_data from the target),
  restoring without one returns the list.
  """
  if not isinstance(nodetype, type):
    raise TypeError(f'nodetype must be a class, got {nodetype!r}')
  _tree.register_node(nodetype, flatten_func, unflatten_func)


def _is_empty_node(x: Any) -> bool:
  if x is None:
    return True
  node = _tree.flatten_one_level(x)
  return node is not None and not node.children


def _flatten_with_path(tree: PyTree, keep_empty_nodes: bool,
                       is_leaf: Optional[Callable[[Any], bool]]):
  """[(tuple of str keys, leaf)] in order, as jax.tree_util would give."""
  out = []

  def walk(x: Any, path: Tuple[str, ...]) -> None:
    if is_leaf is not None and is_leaf(x):
      out.append((path, x))
      return
    if _is_empty_node(x):
      if keep_empty_nodes and is_leaf is None:
        out.append((path, x))
      return
    node = _tree.flatten_one_level(x)
    if node is None:
      out.append((path, x))
      return
    for k, c in zip(node.keys, node.children):
      walk(c, path + (str(k),))

  walk(tree, ())
  return out


def to_flat_dict(tree: PyTree, sep: Optional[str] = None,
                 keep_empty_nodes: bool = False,
                 is_leaf: Optional[Callable[[Any], bool]] = None) -> Dict:
  """{key path: leaf}; key paths are tuples of str (or `sep`-joined).

  As Orbax: None and empty containers are dropped unless keep_empty_nodes;
  is_leaf, if given, decides leaves (overriding keep_empty_nodes).
  """
  flat = {k: v for k, v in _flatten_with_path(tree, keep_empty_nodes,
                                              is_leaf)}
  if sep is not None:
    flat = {sep.join(k): v for k, v in flat.items()}
  return flat


def from_flat_dict(flat_dict: Dict, target: Optional[PyTree] = None,
                   sep: Optional[str] = None) -> PyTree:
  """The tree of a to_flat_dict result.

  With target: target's structure (its node types) with the values of
  flat_dict (KeyError for a key path flat_dict lacks). Without: nested
  dicts keyed by the path elements.
  """
  if target is None:
    return _nested_dicts(flat_dict, sep)
  paths = iter(to_flat_dict(target, sep=sep))
  return _tree.map_leaves(
      lambda x: x if _is_empty_node(x) else flat_dict[next(paths)], target,
      is_leaf=_is_empty_node)


def _nested_dicts(flat_dict: Dict, sep: Optional[str]) -> Dict:
  result: Dict[Any, Any] = {}
  for k, v in flat_dict.items():
    path = tuple(k.split(sep)) if sep is not None else k
    if not isinstance(path, tuple):
      raise ValueError(f'keys must be tuples without sep; got {k!r}')
    subtree = result
    for name in path[:-1]:
      subtree = subtree.setdefault(name, {})
    if path[-1] in subtree:
      raise ValueError(f'duplicate key path {k!r}')
    subtree[path[-1]] = v
  return result
