"""ocp.args.JaxRandomKeySave/Restore, NumpyRandomKeySave/Restore and
ProtoSave/ProtoRestore.

From Orbax's _src/handlers/random_key_checkpoint_handler.py and its test
random_key_checkpoint_handler_test.py (typed and untyped JAX keys,
np.random.get_state() legacy tuples and legacy=False dicts, a Generator's
bit_generator.state through JsonSave, and all of them in one Composite
"with the new API"), and _src/handlers/proto_checkpoint_handler.py
(ProtoSaveArgs(item=message), ProtoRestoreArgs(item=message class); a
restore without the class is a ValueError). JAX and protobuf are not
installed here: a stand-in JAX module (typed keys as a dtype the stand-in's
jax.dtypes.issubdtype recognises) and a stand-in message class with
SerializeToString / FromString.
"""

import sys
import types

import numpy as np
import pytest

import ckptdb as ocp

# ---- a JAX stand-in ------------------------------------------------------------


class _KeyDType:
  """The dtype of a typed key (jax.random.key), a stand-in for
  jax.dtypes.prng_key's subtypes."""

  def __repr__(self):
    return 'key<fry>'


_PRNG_KEY = _KeyDType()


class _FakeJaxArray:
  """jax.Array stand-in: raw uint32 key data, or a typed key over it."""

  def __init__(self, data, typed=False, sharding=None):
    self.data = np.asarray(data, np.uint32)
    self.typed = typed
    self.sharding = sharding
    self.dtype = _PRNG_KEY if typed else self.data.dtype
    self.shape = self.data.shape[:-1] if typed else self.data.shape

  def __array__(self, dtype=None, copy=None):
    del copy
    if self.typed:
      raise TypeError('a typed key has no array form; use key_data')
    return self.data if dtype is None else self.data.astype(dtype)


@pytest.fixture
def fake_jax(monkeypatch):
  jax = types.ModuleType('jax')
  jax.Array = _FakeJaxArray
  jax.device_put = lambda x, sharding=None: _FakeJaxArray(x, False, sharding)
  jax.dtypes = types.SimpleNamespace(
      prng_key=_PRNG_KEY, issubdtype=lambda a, b: a is b)

  def key(seed):
    return _FakeJaxArray([0, seed], typed=True)

  def prng_key(seed):
    return _FakeJaxArray([0, seed])

  jax.random = types.SimpleNamespace(
      key=key, PRNGKey=prng_key,
      key_data=lambda k: k.data,
      wrap_key_data=lambda d: _FakeJaxArray(d, typed=True))
  monkeypatch.setitem(sys.modules, 'jax', jax)
  return jax


def test_jax_typed_key_round_trips(tmp_path, fake_jax):
  """test_save_and_restore_jax_random_key_typed: a typed key comes back as
  a typed key (jax.random.wrap_key_data) with the same key data."""
  typed_key = fake_jax.random.key(0)
  ckptr = ocp.Checkpointer(ocp.JaxRandomKeyCheckpointHandler('typed_key'))
  ckptr.save(tmp_path / 'k', args=ocp.args.JaxRandomKeySave(item=typed_key))
  back = ckptr.restore(tmp_path / 'k', args=ocp.args.JaxRandomKeyRestore())
  assert isinstance(back, _FakeJaxArray) and back.typed
  np.testing.assert_array_equal(back.data, typed_key.data)
  assert back.data.dtype == np.uint32


def test_jax_untyped_key_round_trips(tmp_path, fake_jax):
  """test_save_and_restore_jax_random_key_untyped: PRNGKey data back, and
  not a typed key; RestoreArgs(dtype=...) casts the key data."""
  untyped_key = fake_jax.random.PRNGKey(7)
  ckptr = ocp.Checkpointer(ocp.JaxRandomKeyCheckpointHandler())
  ckptr.save(tmp_path / 'k', args=ocp.args.JaxRandomKeySave(untyped_key))
  back = ckptr.restore(tmp_path / 'k', args=ocp.args.JaxRandomKeyRestore())
  assert isinstance(back, np.ndarray) and back.dtype == np.uint32
  np.testing.assert_array_equal(back, [0, 7])
  wide = ckptr.restore(tmp_path / 'k', args=ocp.args.JaxRandomKeyRestore(
      restore_args=ocp.RestoreArgs(dtype=np.int64)))
  assert wide.dtype == np.int64 and wide.tolist() == [0, 7]


def test_jax_key_save_refuses_other_types(tmp_path, fake_jax):
  """checkpoint_save_args: anything but a jax.Array is
  TypeError('Unsupported type: ...')."""
  del fake_jax
  ckptr = ocp.Checkpointer(ocp.JaxRandomKeyCheckpointHandler())
  with pytest.raises(TypeError, match='Unsupported type'):
    ckptr.save(tmp_path / 'k', args=ocp.args.JaxRandomKeySave(np.zeros(2)))


def test_numpy_legacy_state_round_trips_exactly(tmp_path):
  """test_save_and_restore_numpy_random_key_legacy: np.random.get_state()
  (a tuple) comes back as an equal tuple that set_state accepts: the
  stream continues identically."""
  np.random.seed(123)
  np.random.standard_normal()  # has_gauss = 1, a cached gaussian
  state = np.random.get_state()
  ckptr = ocp.Checkpointer(ocp.NumpyRandomKeyCheckpointHandler('legacy'))
  ckptr.save(tmp_path / 'k', args=ocp.args.NumpyRandomKeySave(item=state))
  back = ckptr.restore(tmp_path / 'k', args=ocp.args.NumpyRandomKeyRestore())
  assert isinstance(back, tuple) and len(back) == len(state)
  for got, want in zip(back, state):
    assert type(got) is type(want)  # pylint: disable=unidiomatic-typecheck
    np.testing.assert_array_equal(got, want)
  expected = np.random.standard_normal(5)
  np.random.set_state(back)
  np.testing.assert_array_equal(np.random.standard_normal(5), expected)


def test_numpy_nonlegacy_state_round_trips_exactly(tmp_path):
  """test_save_and_restore_numpy_random_key_nonlegacy: the dict of
  np.random.get_state(legacy=False)."""
  np.random.seed(5)
  state = np.random.get_state(legacy=False)
  ckptr = ocp.Checkpointer(ocp.NumpyRandomKeyCheckpointHandler('nonlegacy'))
  ckptr.save(tmp_path / 'k', args=ocp.args.NumpyRandomKeySave(state))
  back = ckptr.restore(tmp_path / 'k', args=ocp.args.NumpyRandomKeyRestore())
  assert isinstance(back, dict) and back.keys() == state.keys()
  assert back['bit_generator'] == 'MT19937'
  np.testing.assert_array_equal(back['state']['key'], state['state']['key'])
  assert back['state']['key'].dtype == np.uint32
  assert back['state']['pos'] == state['state']['pos']
  assert (back['has_gauss'], back['gauss']) == (state['has_gauss'],
                                                state['gauss'])


def test_generator_state_with_128_bit_ints_round_trips(tmp_path):
  """A Generator's bit_generator.state (PCG64: 128-bit 'state' and 'inc'),
  through NumpyRandomKeySave and through JsonSave (the Orbax test's
  test_save_and_restore_numpy_random_generator_state): equal dicts, and a
  generator given it back continues the same stream."""
  rng = np.random.default_rng(1)
  rng.random(3)
  state = rng.bit_generator.state
  assert state['state']['state'] > 2**64  # really needs more than 64 bits
  ckptr = ocp.Checkpointer(ocp.NumpyRandomKeyCheckpointHandler())
  ckptr.save(tmp_path / 'k', args=ocp.args.NumpyRandomKeySave(state))
  back = ckptr.restore(tmp_path / 'k', args=ocp.args.NumpyRandomKeyRestore())
  assert back == state
  json_ckptr = ocp.Checkpointer(ocp.JsonCheckpointHandler())
  json_ckptr.save(tmp_path / 'j', args=ocp.args.JsonSave(item=state))
  from_json = json_ckptr.restore(tmp_path / 'j', args=ocp.args.JsonRestore())
  assert from_json == state
  expected = rng.random(4)
  other = np.random.default_rng()
  other.bit_generator.state = from_json
  np.testing.assert_array_equal(other.random(4), expected)


def test_numpy_key_save_refuses_other_types(tmp_path):
  ckptr = ocp.Checkpointer(ocp.NumpyRandomKeyCheckpointHandler())
  with pytest.raises(TypeError, match='Unsupported type'):
    ckptr.save(tmp_path / 'k', args=ocp.args.NumpyRandomKeySave([1, 2]))


def test_json_refuses_the_reserved_big_int_key(tmp_path):
  ckptr = ocp.Checkpointer(ocp.JsonCheckpointHandler())
  with pytest.raises(ValueError, match='__ckptdb_int__'):
    ckptr.save(tmp_path / 'j', args=ocp.args.JsonSave({'__ckptdb_int__': 1}))


# ---- protos --------------------------------------------------------------------


class _Config:
  """A protocol buffer message stand-in: SerializeToString / FromString
  over a small wire format (name, then steps as text)."""

  DESCRIPTOR = types.SimpleNamespace(full_name='test.Config')

  def __init__(self, name='', steps=0):
    self.name, self.steps = name, steps

  def SerializeToString(self):  # pylint: disable=invalid-name
    return self.name.encode() + b'\x00' + str(self.steps).encode()

  @classmethod
  def FromString(cls, data):  # pylint: disable=invalid-name
    name, steps = data.split(b'\x00')
    return cls(name.decode(), int(steps))

  def __eq__(self, other):
    return (type(other) is _Config and  # pylint: disable=unidiomatic-typecheck
            (self.name, self.steps) == (other.name, other.steps))


class _ParseOnly:
  """A message class with only ParseFromString (protobuf's instance API)."""

  def __init__(self):
    self.data = None

  def SerializeToString(self):  # pylint: disable=invalid-name
    return self.data

  def ParseFromString(self, data):  # pylint: disable=invalid-name
    self.data = data


def test_proto_round_trips(tmp_path):
  """proto_checkpoint_handler: save(args=ProtoSaveArgs(message)),
  restore(args=ProtoRestoreArgs(MessageClass)) gives an equal message."""
  msg = _Config('resnet', 90)
  ckptr = ocp.Checkpointer(ocp.ProtoCheckpointHandler())
  ckptr.save(tmp_path / 'p', args=ocp.args.ProtoSave(msg))
  back = ckptr.restore(tmp_path / 'p', args=ocp.args.ProtoRestore(_Config))
  assert back == msg and back is not msg
  # The stored bytes are the message's own serialisation.
  meta = ckptr.metadata(tmp_path / 'p').item_metadata
  assert meta['message_type'] == 'test.Config'
  raw = ocp.Checkpointer().restore(tmp_path / 'p')
  assert raw['proto_bytes'] == msg.SerializeToString()
  parsed = ckptr.restore(tmp_path / 'p', args=ocp.args.ProtoRestore(_ParseOnly))
  assert parsed.data == b'resnet\x0090'


def test_proto_errors(tmp_path):
  """Orbax: restoring without the message class is a ValueError; ckptdb:
  a non-message is a TypeError, and an item saved otherwise a ValueError."""
  ckptr = ocp.Checkpointer(ocp.ProtoCheckpointHandler())
  with pytest.raises(TypeError, match='SerializeToString'):
    ckptr.save(tmp_path / 'p', args=ocp.args.ProtoSave({'a': 1}))
  ckptr.save(tmp_path / 'p', args=ocp.args.ProtoSave(_Config('a', 1)))
  with pytest.raises(ValueError, match='Must provide `item`'):
    ckptr.restore(tmp_path / 'p', args=ocp.args.ProtoRestore())
  ocp.StandardCheckpointer().save(tmp_path / 's', {'w': np.ones(2)})
  with pytest.raises(ValueError, match='not saved with ProtoSave'):
    ckptr.restore(tmp_path / 's', args=ocp.args.ProtoRestore(_Config))


def test_keys_and_protos_in_one_composite_step(tmp_path, fake_jax):
  """test_save_and_restore_random_keys_with_new_api: a train state, typed
  and untyped JAX keys and numpy states as items of one manager step (a
  proto too), restored by name; the step's item_handlers name the
  random-key handler."""
  np.random.seed(123)
  legacy = np.random.get_state(legacy=True)
  nonlegacy = np.random.get_state(legacy=False)
  items = dict(
      train_state=ocp.args.StandardSave({'w': np.arange(6.0)}),
      jax_typed=ocp.args.JaxRandomKeySave(fake_jax.random.key(123)),
      jax_untyped=ocp.args.JaxRandomKeySave(fake_jax.random.PRNGKey(256)),
      np_legacy=ocp.args.NumpyRandomKeySave(legacy),
      np_nonlegacy=ocp.args.NumpyRandomKeySave(nonlegacy),
      config=ocp.args.ProtoSave(_Config('x', 3)))
  with ocp.CheckpointManager(tmp_path / 'm') as mngr:
    mngr.save(0, args=ocp.args.Composite(**items))
    mngr.wait_until_finished()
    assert mngr.metadata(0).item_handlers['jax_typed'] == (
        'ckptdb.JaxRandomKeyCheckpointHandler')
    back = mngr.restore(0, args=ocp.args.Composite(
        train_state=ocp.args.StandardRestore(),
        jax_typed=ocp.args.JaxRandomKeyRestore(),
        jax_untyped=ocp.args.JaxRandomKeyRestore(),
        np_legacy=ocp.args.NumpyRandomKeyRestore(),
        np_nonlegacy=ocp.args.NumpyRandomKeyRestore(),
        config=ocp.args.ProtoRestore(_Config)))
  assert back.jax_typed.typed and back.jax_typed.data.tolist() == [0, 123]
  assert back.jax_untyped.tolist() == [0, 256]
  assert back.np_legacy[0] == 'MT19937'
  np.testing.assert_array_equal(back.np_legacy[1], legacy[1])
  np.testing.assert_array_equal(back.np_nonlegacy['state']['key'],
                                nonlegacy['state']['key'])
  assert back.config == _Config('x', 3)
  np.testing.assert_array_equal(back.train_state['w'], np.arange(6.0))
