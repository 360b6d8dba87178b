"""Finds where a msgpack byte string that failed to decode goes wrong.

msgpack-python reports "incomplete input" or an exception from the ext hook
without a position. When a decode fails, `find_error` walks the bytes
itself (msgpack's wire format: the spec at github.com/msgpack/msgpack) and
returns the byte offset of the first object that is truncated, malformed,
or an ext payload that Flax's decoder rejects. It is only used on the error
path, so it favours clarity over speed.
"""

import struct
from typing import Optional, Tuple

from ckptdb.flax import _msgpack_ext

# Deepest nesting of maps, arrays and tuples: limits::kMaxTreeDepth
# (core/limits.h), the C++ importer's limit for the same files. It also
# bounds this scanner's recursion (about two frames a level) below Python's
# default limit of 1000.
MAX_DEPTH = 256


class _Bad(Exception):

  def __init__(self, offset: int, reason: str):
    super().__init__(reason)
    self.offset = offset
    self.reason = reason


# First byte -> (kind, size of the length/value field) for the non-fix types.
_TYPED = {
    0xc0: ('nil', 0), 0xc2: ('bool', 0), 0xc3: ('bool', 0),
    0xc4: ('bin', 1), 0xc5: ('bin', 2), 0xc6: ('bin', 4),
    0xc7: ('ext', 1), 0xc8: ('ext', 2), 0xc9: ('ext', 4),
    0xca: ('fixed', 4), 0xcb: ('fixed', 8),
    0xcc: ('fixed', 1), 0xcd: ('fixed', 2), 0xce: ('fixed', 4),
    0xcf: ('fixed', 8), 0xd0: ('fixed', 1), 0xd1: ('fixed', 2),
    0xd2: ('fixed', 4), 0xd3: ('fixed', 8),
    0xd4: ('fixext', 1), 0xd5: ('fixext', 2), 0xd6: ('fixext', 4),
    0xd7: ('fixext', 8), 0xd8: ('fixext', 16),
    0xd9: ('str', 1), 0xda: ('str', 2), 0xdb: ('str', 4),
    0xdc: ('array', 2), 0xdd: ('array', 4),
    0xde: ('map', 2), 0xdf: ('map', 4),
}


class _Scanner:
  """Walks one buffer; offsets are reported relative to `base`."""

  def __init__(self, data: bytes, base: int = 0):
    self._data = data
    self._base = base

  def _need(self, pos: int, n: int, what: str,
            at: Optional[int] = None) -> None:
    """Raises _Bad at `at` (default: pos) unless n bytes follow pos."""
    if pos + n > len(self._data):
      raise _Bad(self._base + (pos if at is None else at),
                 f'truncated: {what} needs {n} bytes at byte '
                 f'{self._base + pos}, only {len(self._data) - pos} remain')

  def _uint(self, pos: int, size: int, what: str, at: int) -> int:
    self._need(pos, size, what, at=at)
    return int.from_bytes(self._data[pos:pos + size], 'big')

  def value(self, pos: int, depth: int = 0) -> int:
    """Checks the object at `pos`, inside `depth` containers; returns the
    offset just after it."""
    self._need(pos, 1, 'a value')
    b = self._data[pos]
    if b <= 0x7f or b >= 0xe0:
      return pos + 1
    if 0x80 <= b <= 0x8f:
      return self._map(pos, pos + 1, b & 0x0f, depth)
    if 0x90 <= b <= 0x9f:
      return self._array(pos, pos + 1, b & 0x0f, depth)
    if 0xa0 <= b <= 0xbf:
      return self._str(pos, pos + 1, b & 0x1f)
    if b not in _TYPED:
      raise _Bad(self._base + pos, f'byte 0x{b:02x} is not a msgpack type')
    kind, size = _TYPED[b]
    if kind in ('nil', 'bool'):
      return pos + 1
    if kind == 'fixed':
      self._need(pos + 1, size, 'a number', at=pos)
      return pos + 1 + size
    if kind == 'fixext':
      return self._ext(pos, pos + 1, size, depth)
    n = self._uint(pos + 1, size, 'a length', at=pos)
    start = pos + 1 + size
    if kind == 'bin':
      self._need(start, n, f'a {n}-byte bin', at=pos)
      return start + n
    if kind == 'str':
      return self._str(pos, start, n)
    if kind == 'ext':
      return self._ext(pos, start, n, depth)
    if kind == 'array':
      return self._array(pos, start, n, depth)
    return self._map(pos, start, n, depth)

  def _str(self, pos: int, start: int, n: int) -> int:
    self._need(start, n, f'a {n}-byte string', at=pos)
    try:
      str(self._data[start:start + n], 'utf-8')
    except UnicodeDecodeError as e:
      raise _Bad(self._base + pos, f'string is not UTF-8 ({e.reason})'
                 ) from None
    return start + n

  def _enter(self, at: int, depth: int) -> None:
    """Raises _Bad at `at` if a container there, inside `depth` others,
    nests too deep."""
    if depth + 1 > MAX_DEPTH:
      raise _Bad(self._base + at, f'nesting deeper than {MAX_DEPTH}')

  def _array(self, at: int, pos: int, n: int, depth: int) -> int:
    self._enter(at, depth)
    for _ in range(n):
      pos = self.value(pos, depth + 1)
    return pos

  def _map(self, at: int, pos: int, n: int, depth: int) -> int:
    self._enter(at, depth)
    for _ in range(n):
      self._need(pos, 1, 'a map key')
      key = self._data[pos]
      if 0x80 <= key <= 0x9f or key in (0xdc, 0xdd, 0xde, 0xdf):
        raise _Bad(self._base + pos, 'map key is an array or a map')
      pos = self.value(pos, depth + 1)
      pos = self.value(pos, depth + 1)
    return pos

  def _ext(self, pos: int, start: int, n: int, depth: int) -> int:
    self._need(start, 1 + n, f'an ext of {n} bytes', at=pos)
    code = struct.unpack('b', self._data[start:start + 1])[0]
    payload = memoryview(self._data)[start + 1:start + 1 + n]  # no copy
    payload_at = self._base + start + 1
    if code == _msgpack_ext.MsgpackExtType.tuple:
      # The payload's array is the tuple: one level, as in the tree; a
      # payload that is itself an ext (a tuple in a tuple's payload) is one
      # level more, as _msgpack_ext.unpackb counts it. The array's elements
      # are scanned here, not through value() and _array(), so that nested
      # tuples take two Python frames a level, as maps do.
      sub = _Scanner(payload, payload_at)
      sub._enter(0, depth)
      sub._need(0, 1, 'a value')
      first = payload[0]
      if 0x90 <= first <= 0x9f or first in (0xdc, 0xdd):
        if first <= 0x9f:
          count, end = first & 0x0f, 1
        else:
          size = 2 if first == 0xdc else 4
          count = sub._uint(1, size, 'a length', at=0)
          end = 1 + size
        for _ in range(count):
          end = sub.value(end, depth + 1)
      else:
        is_ext = _TYPED.get(first, ('', 0))[0] in ('ext', 'fixext')
        end = sub.value(0, depth + 1 if is_ext else depth)
      if end != len(payload):
        raise _Bad(payload_at + end, 'extra bytes in a tuple payload')
      return start + 1 + n
    try:
      _msgpack_ext.ext_unpack(code, bytes(payload))
    except Exception as e:  # pylint: disable=broad-except
      raise _Bad(self._base + pos,
                 f'ext type {code} payload at byte {payload_at}: {e}'
                 ) from None
    return start + 1 + n


def find_error(data: bytes) -> Optional[Tuple[int, str]]:
  """(offset, reason) of the first problem in `data`, or None if none found.

  `data` must hold exactly one msgpack object: bytes after it are an error.
  """
  try:
    end = _Scanner(data).value(0)
  except _Bad as e:
    return e.offset, e.reason
  if end != len(data):
    return end, (f'{len(data) - end} extra bytes after the checkpoint '
                 f'object, which ends at byte {end}')
  return None
