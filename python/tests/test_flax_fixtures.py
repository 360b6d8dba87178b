"""Real legacy Flax msgpack checkpoints restore through restore_checkpoint.

The files (Flax, NetKet, T5X and Orbax-aggregate msgpack) are found by
walking /work/shared/fixtures/real (CKPTDB_FIXTURES overrides it) and
keeping every file that Debian's msgpack decodes to a map. Each is
restored with ckptdb.flax and compared, leaf by leaf, with an independent
decode written here from the format reference (flax-legacy.md 1.10):
msgpack + numpy, ext 1/3 = (shape, dtype name, bytes).
"""

import os
import pathlib

import msgpack
import numpy as np
import pytest

from ckptdb.flax.training import checkpoints

FIXTURES = pathlib.Path(os.environ.get('CKPTDB_FIXTURES',
                                       '/work/shared/fixtures/real'))
# The msgpack files known to be there when these tests were written.
MIN_FILES = 15


def _independent_ext_hook(code, data):
  if code in (1, 3):
    shape, dtype, buf = msgpack.unpackb(data, raw=True)
    arr = np.frombuffer(buf, dtype=np.dtype(dtype.decode())).reshape(shape)
    return arr if code == 1 else arr[()]
  if code == 2:
    re_, im = msgpack.unpackb(data)
    return complex(re_, im)
  if code == 4:
    return tuple(msgpack.unpackb(data, ext_hook=_independent_ext_hook,
                                 strict_map_key=False))
  return msgpack.ExtType(code, data)


def _independent_decode(data):
  return msgpack.unpackb(data, ext_hook=_independent_ext_hook, raw=False,
                         strict_map_key=False)


def _msgpack_files():
  if not FIXTURES.is_dir():
    return []
  found = []
  for path in sorted(FIXTURES.rglob('*')):
    if not path.is_file() or path.stat().st_size > 64 << 20:
      continue
    try:
      obj = _independent_decode(path.read_bytes())
    except Exception:  # pylint: disable=broad-except
      continue
    if isinstance(obj, dict):
      found.append(path)
  return found


MSGPACK_FILES = _msgpack_files()


def _assert_same(got, want, path='<root>'):
  if isinstance(want, dict):
    assert isinstance(got, dict), path
    assert list(got) == list(want), f'{path}: keys or key order differ'
    for k in want:
      _assert_same(got[k], want[k], f'{path}/{k}')
  elif isinstance(want, (list, tuple)):
    assert type(got) is type(want) and len(got) == len(want), path
    for i, (g, w) in enumerate(zip(got, want)):
      _assert_same(g, w, f'{path}/{i}')
  elif isinstance(want, (np.ndarray, np.generic)):
    assert type(got) is type(want), f'{path}: {type(got)} != {type(want)}'
    assert got.dtype == want.dtype, f'{path}: {got.dtype} != {want.dtype}'
    assert np.shape(got) == np.shape(want), path
    assert np.asarray(got).tobytes() == np.asarray(want).tobytes(), path
  else:
    assert type(got) is type(want) and got == want, (
        f'{path}: {got!r} != {want!r}')


def test_fixtures_found():
  if not FIXTURES.is_dir():
    pytest.skip(f'no fixtures at {FIXTURES}')
  assert len(MSGPACK_FILES) >= MIN_FILES, [str(p) for p in MSGPACK_FILES]


@pytest.mark.parametrize('path', MSGPACK_FILES,
                         ids=[str(p.relative_to(FIXTURES))
                              for p in MSGPACK_FILES])
def test_real_file_restores_like_independent_decode(path):
  want = _independent_decode(path.read_bytes())
  got = checkpoints.restore_checkpoint(str(path), target=None)
  _assert_same(got, want)


def test_directory_of_real_checkpoints_restores_latest():
  ckpt_dir = FIXTURES / 'KangOxford__AlphaTrade' / 'checkpoints'
  if not ckpt_dir.is_dir():
    pytest.skip('fixture missing')
  assert checkpoints.latest_checkpoint(str(ckpt_dir)) == str(
      ckpt_dir / 'checkpoint_0')
  assert checkpoints.available_steps(str(ckpt_dir)) == [0]
  got = checkpoints.restore_checkpoint(str(ckpt_dir), target=None)
  _assert_same(got, _independent_decode(
      (ckpt_dir / 'checkpoint_0').read_bytes()))
  # With a target: only the target's keys are taken (Flax's from_state_dict).
  target = {'step': 0, 'params': {k: None for k in got['params']}}
  restored = checkpoints.restore_checkpoint(str(ckpt_dir), target=target,
                                            step=0)
  assert list(restored) == ['step', 'params']
  _assert_same(restored['params'], got['params'])


def test_t5x_checkpoint_directory_reads_its_msgpack_file():
  ckpt = FIXTURES / 'google-research__t5x' / 'tiny_t5' / 'checkpoint_1'
  if not ckpt.is_dir():
    pytest.skip('fixture missing')
  got = checkpoints.restore_checkpoint(str(ckpt), target=None)
  _assert_same(got, _independent_decode((ckpt / 'checkpoint').read_bytes()))
