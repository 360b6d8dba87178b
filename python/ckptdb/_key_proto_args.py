"""`ocp.args` for JAX / numpy random keys and protocol buffers.

Orbax's random_key_checkpoint_handler.py and proto_checkpoint_handler.py:

    mngr.save(step, args=ocp.args.Composite(
        key=ocp.args.JaxRandomKeySave(jax.random.key(0)),
        np_key=ocp.args.NumpyRandomKeySave(np.random.get_state()),
        config=ocp.args.ProtoSave(config_proto)))
    back = mngr.restore(step, args=ocp.args.Composite(
        key=ocp.args.JaxRandomKeyRestore(),
        np_key=ocp.args.NumpyRandomKeyRestore(),
        config=ocp.args.ProtoRestore(ConfigProto)))

Each item is one ckptdb tree (a dict) holding the value and what its
restore needs, as Orbax keeps the key and a JSON metadata item side by
side: {'key': key data, 'typed': bool} for a JAX key, {'state': ...,
'legacy': bool} for a numpy state, {'proto_bytes': bytes, 'message_type':
full name} for a proto.
"""

import dataclasses
from typing import Any, Optional

import numpy as np

from ckptdb import _big_ints
from ckptdb import _tree
from ckptdb import _types
from ckptdb.args import _RestoreRequest
from ckptdb.args import _SaveRequest
from ckptdb.args import _restore_args_dict
from ckptdb.args import _save_args_dict
from ckptdb.args import CheckpointArgs


def _jax() -> Any:
  return _tree.jax_module()


def _stored(result: Any, keys: tuple, what: str) -> dict:
  """The restored item's dict, or ValueError if it was saved otherwise."""
  if not (isinstance(result, dict) and all(k in result for k in keys)):
    raise ValueError(f'the item was not saved with {what} (it holds '
                     f'{type(result).__name__} '
                     f'{list(result) if isinstance(result, dict) else ""})')
  return result


# ---- JAX random keys -----------------------------------------------------------


@dataclasses.dataclass
class JaxRandomKeySave(CheckpointArgs):
  """Saves a JAX random key: a typed key (jax.random.key) or a raw uint32
  key (jax.random.PRNGKey). Anything but a jax.Array is a TypeError, as in
  Orbax. save_args: a SaveArgs for the key data."""
  item: Any
  save_args: Optional[_types.SaveArgs] = None

  def _save_request(self) -> _SaveRequest:
    jax = _jax()
    if jax is None or not _tree.is_jax_array(self.item):
      raise TypeError(f'Unsupported type: {type(self.item)}.')
    typed = bool(jax.dtypes.issubdtype(self.item.dtype, jax.dtypes.prng_key))
    data = jax.random.key_data(self.item)
    tree = {'key': np.asarray(data), 'typed': typed}
    return _SaveRequest(tree, _save_args_dict({'key': self.save_args,
                                               'typed': None}))


@dataclasses.dataclass
class JaxRandomKeyRestore(CheckpointArgs):
  """Restores a JAX random key: a typed key (jax.random.wrap_key_data) if
  a typed key was saved, else the raw key data (a numpy uint32 array: ckptdb
  restores to the host). restore_args: a RestoreArgs for the key data."""
  restore_args: Optional[_types.RestoreArgs] = None

  def _restore_request(self) -> _RestoreRequest:
    return _RestoreRequest(
        False, None, False,
        _restore_args_dict({'key': self.restore_args, 'typed': None}),
        post=self._finish)

  @staticmethod
  def _finish(result: Any) -> Any:
    d = _stored(result, ('key', 'typed'), 'JaxRandomKeySave')
    if not d['typed']:
      return d['key']
    jax = _jax()
    if jax is None:
      raise ImportError('restoring a typed JAX random key needs jax '
                        '(jax.random.wrap_key_data)')
    return jax.random.wrap_key_data(d['key'])


# ---- numpy random states ---------------------------------------------------------


@dataclasses.dataclass
class NumpyRandomKeySave(CheckpointArgs):
  """Saves a numpy random state: the tuple of np.random.get_state()
  ('legacy') or a dict (np.random.get_state(legacy=False), or a
  Generator's bit_generator.state). Anything else is a TypeError, as in
  Orbax. Ints beyond 64 bits (PCG64's state) are kept exactly."""
  item: Any

  def _save_request(self) -> _SaveRequest:
    if isinstance(self.item, tuple):
      legacy = True
    elif isinstance(self.item, dict):
      legacy = False
    else:
      raise TypeError(f'Unsupported type: {type(self.item)}.')
    tree = {'state': _big_ints.encode(self.item), 'legacy': legacy}
    return _SaveRequest(_tree.encode_bytes(tree), {})


@dataclasses.dataclass
class NumpyRandomKeyRestore(CheckpointArgs):
  """Restores a NumpyRandomKeySave item: the tuple or dict that was saved,
  with the same types (np.random.set_state / bit_generator.state accept
  it back)."""

  def _restore_request(self) -> _RestoreRequest:
    return _RestoreRequest(False, None, False, {}, post=self._finish)

  @staticmethod
  def _finish(result: Any) -> Any:
    d = _stored(result, ('state', 'legacy'), 'NumpyRandomKeySave')
    state = _big_ints.decode(d['state'])
    return tuple(state) if d['legacy'] else state


# ---- protocol buffers ------------------------------------------------------------


def _message_type(message: Any) -> str:
  descriptor = getattr(message, 'DESCRIPTOR', None)
  return getattr(descriptor, 'full_name', '') or type(message).__name__


@dataclasses.dataclass
class ProtoSave(CheckpointArgs):
  """Saves a protocol buffer message (its SerializeToString() bytes)."""
  item: Any

  def _save_request(self) -> _SaveRequest:
    serialize = getattr(self.item, 'SerializeToString', None)
    if serialize is None:
      raise TypeError('ProtoSave needs a protocol buffer message (with '
                      f'SerializeToString); got {type(self.item).__name__}')
    tree = {'proto_bytes': bytes(serialize()),
            'message_type': _message_type(self.item)}
    return _SaveRequest(_tree.encode_bytes(tree), {})


@dataclasses.dataclass
class ProtoRestore(CheckpointArgs):
  """Restores a ProtoSave item as a message of class `item` (required, as
  in Orbax): item.FromString(bytes), or item().ParseFromString(bytes)."""
  item: Any = None

  def _restore_request(self) -> _RestoreRequest:
    if self.item is None:
      raise ValueError('Must provide `item` in order to deserialize proto to '
                       'the correct type.')
    return _RestoreRequest(False, None, False, {}, post=self._finish)

  def _finish(self, result: Any) -> Any:
    d = _stored(result, ('proto_bytes', 'message_type'), 'ProtoSave')
    data = d['proto_bytes']
    from_string = getattr(self.item, 'FromString', None)
    if from_string is not None:
      return from_string(data)
    message = self.item()
    message.ParseFromString(data)
    return message
