"""Flax's state-dict registry: objects to nested dicts with str keys, back.

    state = to_state_dict({'layers': [w0, w1]})   # {'layers': {'0': w0, '1': w1}}
    tree = from_state_dict(target, state)         # in target's structure

As in Flax: dict, list, tuple and namedtuples are registered (lists and
tuples become {'0': ..., '1': ...}); a registered type's restore function
is given the target and its state; unregistered values are leaves and pass
through unchanged (from_state_dict returns the state for them, with no
dtype or shape check). `register_serialization_state` adds a type -- this
is how a dataclass (Flax's flax.struct.dataclass) takes part.
"""

import contextlib
import threading
from typing import Any, Callable, Dict, Iterator, Tuple

_STATE_DICT_REGISTRY: Dict[type, Tuple[Callable[[Any], Any],
                                        Callable[[Any, Any], Any]]] = {}


class _NamedTuple:
  """Registry key standing for every namedtuple type."""


class _ErrorContext(threading.local):
  """The path of the object being restored (for error messages)."""

  def __init__(self):
    super().__init__()
    self.path = []


_error_context = _ErrorContext()


@contextlib.contextmanager
def _record_path(name: str) -> Iterator[None]:
  try:
    _error_context.path.append(name)
    yield
  finally:
    _error_context.path.pop()


def current_path() -> str:
  """The '/'-joined path being restored (Flax's serialization.current_path)."""
  return '/'.join(_error_context.path)


def _is_namedtuple(x: Any) -> bool:
  return isinstance(x, tuple) and hasattr(x, '_fields')


def _registry_key(x: Any) -> type:
  return _NamedTuple if _is_namedtuple(x) else type(x)


def from_state_dict(target: Any, state: Any, name: str = '.') -> Any:
  """Restores `state` into the structure of `target`.

  Args:
    target: the object whose structure (types, keys, lengths) is used.
    state: a state dict as to_state_dict / msgpack_restore give.
    name: this level's name in error paths.

  Returns:
    A copy of target with its leaves taken from state.
  """
  key = _registry_key(target)
  if key not in _STATE_DICT_REGISTRY:
    return state
  restore = _STATE_DICT_REGISTRY[key][1]
  with _record_path(name):
    return restore(target, state)


def to_state_dict(target: Any) -> Any:
  """Returns target as a state dict (nested dicts with str keys, leaves)."""
  key = _registry_key(target)
  if key not in _STATE_DICT_REGISTRY:
    return target
  state_dict = _STATE_DICT_REGISTRY[key][0](target)
  if isinstance(state_dict, dict):
    for k in state_dict:
      assert isinstance(k, str), 'A state dict must only have string keys.'
  return state_dict


def register_serialization_state(ty: type, ty_to_state_dict: Callable,
                                 ty_from_state_dict: Callable,
                                 override: bool = False) -> None:
  """Registers a type: ty_to_state_dict(x), ty_from_state_dict(x, state).

  ValueError if `ty` is registered already and override is False.
  """
  if ty in _STATE_DICT_REGISTRY and not override:
    raise ValueError(f'a serialization handler for "{ty.__name__}"'
                     ' is already registered')
  _STATE_DICT_REGISTRY[ty] = (ty_to_state_dict, ty_from_state_dict)


def _list_state_dict(xs: Any) -> Dict[str, Any]:
  return {str(i): to_state_dict(x) for i, x in enumerate(xs)}


def _restore_list(xs: Any, state_dict: Dict[str, Any]) -> list:
  if len(state_dict) != len(xs):
    raise ValueError('The size of the list and the state dict do not match,'
                     f' got {len(xs)} and {len(state_dict)} '
                     f'at path {current_path()}')
  return [from_state_dict(xs[i], state_dict[str(i)], name=str(i))
          for i in range(len(state_dict))]


def _dict_state_dict(xs: Dict[Any, Any]) -> Dict[str, Any]:
  str_keys = {str(k) for k in xs}
  if len(str_keys) != len(xs):
    raise ValueError('Dict keys do not have a unique string representation: '
                     f'{str_keys} vs given: {xs}')
  return {str(key): to_state_dict(value) for key, value in xs.items()}


def _restore_dict(xs: Dict[Any, Any], states: Dict[str, Any]) -> dict:
  diff = set(map(str, xs.keys())).difference(states.keys())
  if diff:
    raise ValueError('The target dict keys and state dict keys do not match,'
                     f' target dict contains keys {diff} which are not '
                     f'present in state dict at path {current_path()}')
  return {key: from_state_dict(value, states[str(key)], name=str(key))
          for key, value in xs.items()}


def _namedtuple_state_dict(nt: Any) -> Dict[str, Any]:
  return {key: to_state_dict(getattr(nt, key)) for key in nt._fields}


def _restore_namedtuple(xs: Any, state_dict: Dict[str, Any]) -> Any:
  if 'name' in state_dict and 'fields' in state_dict and 'values' in state_dict:
    # The format of files written before 2021-07.
    state_dict = {state_dict['fields'][str(i)]: state_dict['values'][str(i)]
                  for i in range(len(state_dict['fields']))}
  sd_keys = set(state_dict.keys())
  nt_keys = set(xs._fields)
  if sd_keys != nt_keys:
    raise ValueError('The field names of the state dict and the named tuple '
                     f'do not match, got {sd_keys} and {nt_keys} at path '
                     f'{current_path()}')
  fields = {k: from_state_dict(getattr(xs, k), v, name=k)
            for k, v in state_dict.items()}
  return type(xs)(**fields)


register_serialization_state(dict, _dict_state_dict, _restore_dict)
register_serialization_state(list, _list_state_dict, _restore_list)
register_serialization_state(
    tuple, _list_state_dict,
    lambda xs, state_dict: tuple(_restore_list(xs, state_dict)))
register_serialization_state(_NamedTuple, _namedtuple_state_dict,
                             _restore_namedtuple)
