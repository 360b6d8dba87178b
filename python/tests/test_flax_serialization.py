"""ckptdb.flax.serialization against msgpack bytes built by hand.

The expected bytes are assembled here with struct, following the format
reference (docs/reference/flax-legacy.md section 1.10) and the msgpack
spec -- not with the msgpack package -- so an encoder bug cannot hide in
both sides.
"""

import collections
import struct

import numpy as np
import pytest

from ckptdb.flax import serialization


# ---- a tiny msgpack writer (spec: github.com/msgpack/msgpack/spec.md) -----


def s(text):
  b = text.encode()
  assert len(b) < 32
  return bytes([0xa0 | len(b)]) + b


def uint(n):
  if n < 0x80:
    return bytes([n])
  if n < 0x100:
    return b'\xcc' + bytes([n])
  if n < 0x10000:
    return b'\xcd' + struct.pack('>H', n)
  return b'\xce' + struct.pack('>I', n)


def f64(x):
  return b'\xcb' + struct.pack('>d', x)


def binary(b):
  if len(b) < 0x100:
    return b'\xc4' + bytes([len(b)]) + b
  if len(b) < 0x10000:
    return b'\xc5' + struct.pack('>H', len(b)) + b
  return b'\xc6' + struct.pack('>I', len(b)) + b


def fixmap(n):
  return bytes([0x80 | n])


def fixarray(n):
  return bytes([0x90 | n])


def ext(code, payload):
  n = len(payload)
  fix = {1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}
  if n in fix:
    return bytes([fix[n], code]) + payload
  if n < 0x100:
    return bytes([0xc7, n, code]) + payload
  if n < 0x10000:
    return b'\xc8' + struct.pack('>H', n) + bytes([code]) + payload
  return b'\xc9' + struct.pack('>I', n) + bytes([code]) + payload


def nd_payload(shape, dtype, data):
  return (fixarray(3) + fixarray(len(shape)) + b''.join(uint(d) for d in shape)
          + s(dtype) + binary(data))


def nd(shape, dtype, data, code=1):
  return ext(code, nd_payload(shape, dtype, data))


# ---- tests -------------------------------------------------------------------


def test_reference_worked_example():
  tree = {'params': {'w': np.arange(6, dtype=np.float32).reshape(2, 3)},
          'step': 7, 'lr': np.float32(0.5), 'c': 1 + 2j, '0': {'0': 'x'}}
  want = (fixmap(5) + s('params') + fixmap(1) + s('w') +
          nd([2, 3], 'float32', np.arange(6, dtype='<f4').tobytes()) +
          s('step') + b'\x07' +
          s('lr') + nd([], 'float32', struct.pack('<f', 0.5), code=3) +
          s('c') + ext(2, fixarray(2) + f64(1.0) + f64(2.0)) +
          s('0') + fixmap(1) + s('0') + s('x'))
  # The reference prints these bytes; spot-check its landmarks.
  assert want[11:14] == b'\xc7\x26\x01'
  assert b'\xd8\x03\x93\x90' in want and b'\xc7\x13\x02\x92\xcb' in want
  got = serialization.to_bytes(tree)
  assert got == want
  back = serialization.msgpack_restore(got)
  assert back['c'] == 1 + 2j and type(back['c']) is complex
  assert type(back['lr']) is np.float32 and back['lr'] == 0.5
  assert back['params']['w'].dtype == np.float32
  np.testing.assert_array_equal(back['params']['w'], tree['params']['w'])


@pytest.mark.parametrize('value', [1 + 2j, -0.5 - 3.25j, complex(0, 0),
                                   complex(1e300, -1e-300)])
def test_ext2_complex(value):
  want = fixmap(1) + s('z') + ext(2, fixarray(2) + f64(value.real) +
                                  f64(value.imag))
  assert serialization.msgpack_serialize({'z': value}) == want
  assert serialization.msgpack_restore(want) == {'z': value}


@pytest.mark.parametrize('arr', [
    np.array([True, False, True]),
    np.array([[-128, -1], [0, 127]], dtype=np.int8),
    np.array([0, 1, 254, 255], dtype=np.uint8),
    np.arange(300, dtype=np.uint8),          # bin16 data, ext16 outer
    np.arange(20000, dtype=np.int32),        # bin32 data, ext32 outer
    np.zeros((2, 0, 3), dtype=np.float16),
    np.array(7, dtype=np.int64),             # 0-d array stays ext type 1
    np.array([1 + 1j, 2 - 2j], dtype=np.complex64),
], ids=lambda a: f'{a.dtype}{list(a.shape)}')
def test_arrays_round_trip_byte_exactly(arr):
  want = fixmap(1) + s('a') + nd(list(arr.shape), arr.dtype.name,
                                 arr.tobytes())
  assert serialization.to_bytes({'a': arr}) == want
  back = serialization.from_bytes({'a': None}, want)
  assert back['a'].dtype == arr.dtype and back['a'].shape == arr.shape
  np.testing.assert_array_equal(back['a'], arr)


@pytest.mark.parametrize('scalar', [np.bool_(True), np.int8(-3),
                                    np.uint8(200), np.float64(2.5)],
                         ids=lambda x: type(x).__name__)
def test_numpy_scalars_are_ext3(scalar):
  want = fixmap(1) + s('x') + nd([], np.asarray(scalar).dtype.name,
                                 np.asarray(scalar).tobytes(), code=3)
  assert serialization.to_bytes({'x': scalar}) == want
  back = serialization.msgpack_restore(want)['x']
  assert type(back) is type(scalar) and back == scalar


def test_lists_tuples_and_namedtuples_become_maps():
  point = collections.namedtuple('Point', ['x', 'y'])
  tree = {'l': [1, 2], 't': (True, None), 'p': point('a', 3.5)}
  want = (fixmap(3) + s('l') + fixmap(2) + s('0') + b'\x01' + s('1') + b'\x02'
          + s('t') + fixmap(2) + s('0') + b'\xc3' + s('1') + b'\xc0'
          + s('p') + fixmap(2) + s('x') + s('a') + s('y') + f64(3.5))
  assert serialization.to_bytes(tree) == want
  back = serialization.from_bytes({'l': [0, 0], 't': (0, 0),
                                   'p': point(0, 0)}, want)
  assert back == tree and type(back['t']) is tuple
  assert type(back['p']) is point
  assert serialization.msgpack_restore(want)['l'] == {'0': 1, '1': 2}


def test_from_state_dict_checks_structure_like_flax():
  state = serialization.msgpack_restore(serialization.to_bytes(
      {'a': [1, 2], 'b': 3}))
  # Extra stored keys are dropped; missing ones are an error naming them.
  assert serialization.from_state_dict({'b': 0}, state) == {'b': 3}
  with pytest.raises(ValueError, match="contains keys {'c'}"):
    serialization.from_state_dict({'c': 0}, state)
  with pytest.raises(ValueError, match='size of the list'):
    serialization.from_state_dict({'a': [0], 'b': 0}, state)


def test_raw_tuple_rejected_by_msgpack_serialize_as_in_flax():
  with pytest.raises(TypeError):
    serialization.msgpack_serialize({'t': (1, 2)})


def test_orbax_ext4_tuple_is_read():
  data = fixmap(1) + s('t') + ext(4, fixarray(2) + b'\x01' + s('a'))
  assert serialization.msgpack_restore(data) == {'t': (1, 'a')}


def test_orbax_ext4_tuples_nested_in_lists_and_as_map_keys():
  """Tuples are expanded after the msgpack decode (not inside its ext
  hook): nested ones, ones in lists and maps, and ones used as map keys
  (in their key order, a repeated key keeping its first place and last
  value) come back as decoding each inside the hook gave."""
  def tpl(*elements):
    return ext(4, fixarray(len(elements)) + b''.join(elements))
  inner = tpl(b'\x02', tpl(s('a')))  # (2, ('a',))
  data = (fixmap(2) + s('t') + fixarray(2) + tpl(b'\x01', inner) +
          fixarray(0) + s('m') + fixmap(4) + inner + b'\x05' + s('x') +
          b'\x06' + tpl() + b'\x07' + inner + b'\x08')
  state = serialization.msgpack_restore(data)
  assert state == {'t': [(1, (2, ('a',))), []],
                   'm': {(2, ('a',)): 8, 'x': 6, (): 7}}
  assert list(state['m']) == [(2, ('a',)), 'x', ()]


def test_msgpack_serialize_sorts_keys_but_to_bytes_keeps_order():
  # msgpack_serialize(in_place=False) copies the tree with jax's tree_map,
  # which rebuilds dicts with sorted keys; to_bytes keeps insertion order.
  tree = {'b': 1, 'a': 2}
  assert serialization.msgpack_serialize(tree) == (
      fixmap(2) + s('a') + b'\x02' + s('b') + b'\x01')
  assert serialization.to_bytes(tree) == (
      fixmap(2) + s('b') + b'\x01' + s('a') + b'\x02')
  assert list(tree) == ['b', 'a']  # the input is not modified


def _chunked(shape, chunks):
  out = fixmap(3) + s('__msgpack_chunked_array__') + b'\xc3'
  out += s('shape') + fixmap(len(shape))
  for i, d in enumerate(shape):
    out += s(str(i)) + uint(d)
  out += s('chunks') + fixmap(len(chunks))
  for i, c in enumerate(chunks):
    out += s(str(i)) + nd([c.size], c.dtype.name, c.tobytes())
  return out


@pytest.mark.parametrize('shape,dtype,limit,sizes', [
    ((10,), np.float32, 16, [4, 4, 2]),
    ((2, 5), np.int8, 4, [4, 4, 2]),
    ((3, 3), np.float64, 24, [3, 3, 3]),
    ((5,), np.int16, 1, [1, 1, 1, 1, 1]),  # chunksize = max(1, 1 / 2)
])
def test_chunked_arrays(monkeypatch, shape, dtype, limit, sizes):
  monkeypatch.setattr(serialization, 'MAX_CHUNK_SIZE', limit)
  arr = np.arange(np.prod(shape)).astype(dtype).reshape(shape)
  flat = arr.reshape(-1)
  chunks, at = [], 0
  for n in sizes:
    chunks.append(flat[at:at + n])
    at += n
  small = np.array([1, 2], dtype=np.int8)  # at most `limit` bytes: as is
  tree = {'big': arr, 'inner': {'big': arr, 'small': small[:1]}}
  want = (fixmap(2) + s('big') + _chunked(shape, chunks) + s('inner') +
          fixmap(2) + s('big') + _chunked(shape, chunks) + s('small') +
          nd([1], 'int8', small[:1].tobytes()))
  got = serialization.to_bytes(tree)
  assert got == want
  back = serialization.msgpack_restore(got)
  for a in (back['big'], back['inner']['big']):
    assert a.dtype == arr.dtype and a.shape == arr.shape
    np.testing.assert_array_equal(a, arr)
  # Joining does not depend on the writer's limit.
  monkeypatch.setattr(serialization, 'MAX_CHUNK_SIZE', 2**30)
  np.testing.assert_array_equal(serialization.msgpack_restore(want)['big'],
                                arr)


def test_chunking_applies_to_a_bare_array_not_inside_lists(monkeypatch):
  monkeypatch.setattr(serialization, 'MAX_CHUNK_SIZE', 8)
  arr = np.arange(4, dtype=np.int32)  # 16 bytes: chunked in dicts
  assert serialization.msgpack_serialize(arr) == _chunked(
      (4,), [arr[:2], arr[2:]])
  # A raw list is not walked (Flax chunks through dicts only).
  assert serialization.msgpack_serialize([arr]) == fixarray(1) + nd(
      [4], 'int32', arr.tobytes())


def test_bfloat16_needs_ml_dtypes():
  data = fixmap(1) + s('b') + nd([2], 'bfloat16', b'\x80\x3f\x00\x40')
  try:
    import ml_dtypes  # pylint: disable=g-import-not-at-top
  except ImportError:
    with pytest.raises(ValueError, match='ml_dtypes'):
      serialization.msgpack_restore(data)
    return
  back = serialization.msgpack_restore(data)['b']
  assert back.dtype == ml_dtypes.bfloat16
  np.testing.assert_array_equal(back.astype(np.float32), [1.0, 2.0])
  assert serialization.to_bytes({'b': back}) == data


def test_register_serialization_state_for_a_dataclass():
  import dataclasses  # pylint: disable=g-import-not-at-top

  @dataclasses.dataclass
  class State:
    step: int
    params: dict

  serialization.register_serialization_state(
      State,
      lambda x: {'step': serialization.to_state_dict(x.step),
                 'params': serialization.to_state_dict(x.params)},
      lambda x, d: State(d['step'], serialization.from_state_dict(
          x.params, d['params'], name='params')))
  with pytest.raises(ValueError, match='already registered'):
    serialization.register_serialization_state(State, None, None)
  st = State(3, {'w': np.ones(2, np.float32)})
  data = serialization.to_bytes(st)
  assert data.startswith(fixmap(2) + s('step') + b'\x03' + s('params'))
  back = serialization.from_bytes(State(0, {'w': None}), data)
  assert back.step == 3
  np.testing.assert_array_equal(back.params['w'], st.params['w'])
