"""Corrupt and truncated legacy msgpack checkpoints give clear errors.

Each bad input raises ckptdb.flax.errors.MsgpackFormatError (a ValueError)
naming the file and, where the bytes show it, the offset of the first bad
byte; no other exception escapes, and nothing crashes.
"""

import os
import random
import re
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

from ckptdb.flax import errors
from ckptdb.flax import serialization
from ckptdb.flax.training import checkpoints

GOOD = serialization.to_bytes({'a': np.arange(4, dtype=np.int16), 'b': 'x',
                               'c': 1 + 1j, 'd': np.float32(2)})


def restore_file(tmp_path, data, name='checkpoint_3'):
  path = tmp_path / name
  path.write_bytes(data)
  return checkpoints.restore_checkpoint(str(path), target=None)


# Each case: bytes, expected offset, a fragment of the reason.
ARRAY_HEADER = b'\x81\xa1a'  # {'a': ...}: the value starts at byte 3


def ext8(code, payload):
  return bytes([0xc7, len(payload), code]) + payload


CASES = {
    'empty file': (b'', 0, 'empty'),
    'truncated bin': (ARRAY_HEADER + b'\xc4\x10' + b'12345', 3, 'truncated'),
    'truncated map': (b'\x82\xa1a\x01', 4, 'truncated'),
    'lying str32 length': (b'\xdb\xff\xff\xff\xffab', 0, 'truncated'),
    'reserved byte 0xc1': (ARRAY_HEADER + b'\xc1', 3, '0xc1'),
    'extra bytes after the object': (b'\x81\xa1a\x01\x02\x03', 4,
                                     '2 extra bytes'),
    'array data too short': (
        ARRAY_HEADER + ext8(1, b'\x93\x91\x04\xa5int16\xc4\x06' + b'\x00' * 6),
        3, 'needs 8'),
    'unknown dtype': (
        ARRAY_HEADER + ext8(1, b'\x93\x91\x01\xa7float99\xc4\x01\x00'), 3,
        'unknown dtype'),
    'array payload not a triple': (ARRAY_HEADER + b'\xd4\x01\x01', 3,
                                   '[shape, dtype, data]'),
    'complex payload of one float': (
        ARRAY_HEADER + ext8(2, b'\x91\xcb' + struct.pack('>d', 1.0)), 3,
        '[real, imag]'),
    'string not utf-8': (b'\x81\xa1a\xa2\xff\xfe', 3, 'UTF-8'),
    'map key is a map': (b'\x81\x80\x01', 1, 'map key'),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_bad_file_names_file_and_offset(tmp_path, name):
  data, offset, fragment = CASES[name]
  with pytest.raises(errors.MsgpackFormatError) as info:
    restore_file(tmp_path, data)
  e = info.value
  assert e.path == str(tmp_path / 'checkpoint_3')
  assert e.offset == offset, str(e)
  assert fragment in str(e)
  assert str(tmp_path / 'checkpoint_3') in str(e)
  assert f'at byte {offset}' in str(e)


def test_every_truncation_of_a_good_file_is_an_error_at_its_end(tmp_path):
  for n in range(len(GOOD)):
    with pytest.raises(errors.MsgpackFormatError) as info:
      restore_file(tmp_path, GOOD[:n])
    assert info.value.offset is not None and info.value.offset <= n, n


def test_random_corruption_never_escapes_as_another_error(tmp_path):
  rng = random.Random(14)
  outcomes = {'decoded': 0, 'error': 0}
  for _ in range(400):
    data = bytearray(GOOD)
    for _ in range(rng.randint(1, 3)):
      data[rng.randrange(len(data))] = rng.randrange(256)
    try:
      serialization.msgpack_restore(bytes(data))
      outcomes['decoded'] += 1
    except errors.MsgpackFormatError:
      outcomes['error'] += 1
  assert outcomes['error'] > 0 and outcomes['decoded'] > 0, outcomes


def test_bytes_errors_say_bytes():
  with pytest.raises(errors.MsgpackFormatError, match=r'^<bytes>: .* byte 2'):
    serialization.from_bytes(None, b'\x81\xa1')


def test_malformed_chunked_array(tmp_path):
  data = serialization.msgpack_serialize(
      {'a': {'__msgpack_chunked_array__': True, 'shape': {'0': 3}}})
  with pytest.raises(errors.MsgpackFormatError, match='malformed chunked'):
    restore_file(tmp_path, data)


def test_bad_file_in_a_checkpoint_directory(tmp_path):
  (tmp_path / 'checkpoint_1').write_bytes(GOOD)
  (tmp_path / 'checkpoint_2').write_bytes(GOOD[:-3])
  with pytest.raises(errors.MsgpackFormatError,
                     match=str(tmp_path / 'checkpoint_2')):
    checkpoints.restore_checkpoint(str(tmp_path), target=None)
  assert checkpoints.restore_checkpoint(str(tmp_path), None, step=1)['b'] == 'x'



def _unblock_readers_later(fifo, delay_s=0.5):
  """Opens fifo for writing after delay_s (and closes it), so that a reader
  blocked in open() gets end of file instead of hanging the test."""
  def unblock():
    try:
      os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # ENXIO: no reader, nothing to unblock
      pass
  timer = threading.Timer(delay_s, unblock)
  timer.start()
  return timer


def test_a_fifo_is_refused_before_it_is_opened(tmp_path):
  """Opening a FIFO for reading blocks until a writer comes: restore hung
  forever on a FIFO named like a checkpoint. It is refused, named, before
  it is opened, and so is a symlink to one."""
  fifo = tmp_path / 'checkpoint_1'
  os.mkfifo(fifo)
  link = tmp_path / 'checkpoint_2'
  timer = _unblock_readers_later(fifo)
  try:
    with pytest.raises(errors.MsgpackFormatError,
                       match=f'^{re.escape(str(fifo))}: not a valid Flax '
                       r'msgpack checkpoint: not a regular file \(a FIFO\)'):
      checkpoints.restore_checkpoint(str(tmp_path), target=None)
    os.symlink(fifo, link)
    with pytest.raises(errors.MsgpackFormatError,
                       match=f'^{re.escape(str(link))}: .*a FIFO'):
      checkpoints.restore_checkpoint(str(tmp_path), target=None)
  finally:
    timer.cancel()
    timer.join()


def _nested_maps(depth):
  """`depth` maps nested as {'k': {'k': ... None}}: 3 bytes a level."""
  return b'\x81\xa1k' * depth + b'\xc0'


def test_nesting_deeper_than_the_importers_limit(tmp_path):
  """Nesting is limited as in the C++ importer (limits::kMaxTreeDepth,
  256): a 100,000-deep file raised RecursionError from the scanner (after
  msgpack-python's StackError), a 600-deep one decoded."""
  state = serialization.msgpack_restore(_nested_maps(256))
  for _ in range(256):
    state = state['k']
  assert state is None
  for depth in (257, 600, 100_000):
    with pytest.raises(errors.MsgpackFormatError,
                       match=r'^<bytes>: .* at byte 768: nesting deeper '
                       r'than 256$'):
      serialization.msgpack_restore(_nested_maps(depth))
  with pytest.raises(errors.MsgpackFormatError,
                     match=r'checkpoint_3: .* nesting deeper than 256'):
    restore_file(tmp_path, _nested_maps(100_000))


def _nested_tuples(levels):
  """{'t': ((...(),),)}: `levels` tuples (ext type 4, as Orbax writes
  them), each the only element of the one around it, the innermost empty
  (its array, 0x90, is the last byte). Built from the inside out, so that
  100,000 levels take linear time."""
  parts, size = [], 1  # size: the payload's, then the ext's, in bytes
  for i in range(levels):
    if i:  # a one-element array holding the tuple inside
      parts.append(b'\x91')
      size += 1
    parts.append(bytes([0xc7, size, 4]) if size < 256 else
                 b'\xc8' + size.to_bytes(2, 'big') + b'\x04' if size < 65536
                 else b'\xc9' + size.to_bytes(4, 'big') + b'\x04')
    size += len(parts[-1])
  return b'\x81\xa1t' + b''.join(reversed(parts)) + b'\x90'


# Decodes each file named in argv with msgpack_restore and with Flax's
# restore_checkpoint; prints the depth of the tuples, or the error.
_DECODE_CHILD = '''
import sys
from ckptdb.flax import errors, serialization
from ckptdb.flax.training import checkpoints
for path in sys.argv[1:]:
  data = open(path, 'rb').read()
  for restore in (serialization.msgpack_restore,
                  lambda _: checkpoints.restore_checkpoint(path, None)):
    try:
      t, levels = restore(data)['t'], 1
    except errors.MsgpackFormatError as e:
      print(e)
      continue
    while t != ():
      assert type(t) is tuple and len(t) == 1, t
      t, levels = t[0], levels + 1
    print(levels, 'tuples')
'''


def _decode_in_a_child(tmp_path, levels):
  """The lines _DECODE_CHILD prints for _nested_tuples of each of
  `levels`: in another interpreter, as a crash kills it."""
  paths = []
  for n in levels:
    paths.append(tmp_path / f'checkpoint_{n}')
    paths[-1].write_bytes(_nested_tuples(n))
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
  r = subprocess.run([sys.executable, '-c', _DECODE_CHILD, *map(str, paths)],
                     env=env, capture_output=True, text=True, timeout=120)
  assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
  return r.stdout.splitlines()


def test_tuples_nested_to_the_limit_decode(tmp_path):
  """Each tuple was decoded by a msgpack-python unpackb inside the ext hook
  of the one around it, a large C stack frame a level: 150 levels decoded,
  200 killed the interpreter (SIGSEGV). The dict and 255 tuples are the
  256 levels of the importer's limit; one more is the format error, at
  the innermost tuple's array (the last byte)."""
  at = len(_nested_tuples(256)) - 1
  path = tmp_path / 'checkpoint_256'
  assert _decode_in_a_child(tmp_path, [255, 256]) == [
      '255 tuples', '255 tuples',
      f'<bytes>: not a valid Flax msgpack checkpoint at byte {at}: nesting '
      'deeper than 256',
      f'{path}: not a valid Flax msgpack checkpoint at byte {at}: nesting '
      'deeper than 256']


def test_100000_nested_tuples_are_a_format_error_not_a_crash(tmp_path):
  """100,000 nested tuples: the format error naming the depth limit and the
  offset of the 256th tuple's array (3 + 255 * 7 + 6: ext32 headers of 6
  bytes with the one-element array headers), from the bytes API and from
  restore_checkpoint, without decoding the other 99,744 levels."""
  path = tmp_path / 'checkpoint_100000'
  assert _decode_in_a_child(tmp_path, [100_000]) == [
      '<bytes>: not a valid Flax msgpack checkpoint at byte 1794: nesting '
      'deeper than 256',
      f'{path}: not a valid Flax msgpack checkpoint at byte 1794: nesting '
      'deeper than 256']
