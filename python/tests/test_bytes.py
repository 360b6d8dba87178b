"""bytes leaves are saved and restored (Orbax saves them as scalars).

Reference: orbax-semantics.md section 6.6, `value_type` 'scalar' covers
"int/float/bool/bytes/np.number"; issue 16: "`bytes` leaves cannot be
saved". The core's Tree has no bytes leaf, so ckptdb stores a bytes leaf as
a uint8 array under a reserved dict key (docs/python.md).
"""

import numpy as np
import pytest

import ckptdb


def _tree():
  return {'blob': b'\x00\xffabc', 'empty': b'', 'list': [b'x', 1],
          'w': np.arange(3, dtype=np.float32)}


def _check(got):
  assert got['blob'] == b'\x00\xffabc' and type(got['blob']) is bytes
  assert got['empty'] == b''
  assert got['list'] == [b'x', 1]
  np.testing.assert_array_equal(got['w'], np.arange(3, dtype=np.float32))


@pytest.mark.parametrize('save_cls,restore_cls', [
    (ckptdb.args.PyTreeSave, ckptdb.args.PyTreeRestore),
    (ckptdb.args.StandardSave, ckptdb.args.StandardRestore),
], ids=['pytree', 'standard'])
def test_bytes_round_trip_without_target(tmp_path, save_cls, restore_cls):
  """orbax-semantics.md 6.6: bytes is a scalar leaf value_type."""
  with ckptdb.CheckpointManager(tmp_path / 'm') as m:
    m.save(0, args=save_cls(_tree()))
    m.wait_until_finished()
    _check(m.restore(0, args=restore_cls()))


def test_bytes_round_trip_with_target(tmp_path):
  """orbax-semantics.md 6.5: the result has the target's structure; a
  bytes target leaf gets the saved bytes (of any length)."""
  ckptr = ckptdb.PyTreeCheckpointer()
  ckptr.save(tmp_path / 'c', _tree())
  target = {'blob': b'', 'empty': b'zz', 'list': [b'', 0],
            'w': np.zeros(3, np.float32)}
  _check(ckptr.restore(tmp_path / 'c', item=target))
  assert target['empty'] == b'zz'


def test_reserved_marker_key_is_refused(tmp_path):
  """The marker key cannot come from the user (it would restore as bytes)."""
  with pytest.raises(ValueError, match='reserved'):
    ckptdb.PyTreeCheckpointer().save(
        tmp_path / 'c', {'x': {'__ckptdb_bytes__': np.zeros(1, np.uint8)}})
