"""Exact tree comparison for the tests."""

import numpy as np


def assert_tree_equal(got, want, path='<root>'):
  """Same container types, key types and order, leaf types and values.

  Arrays: same dtype, shape and bytes (NaNs compare equal bitwise).
  """
  assert type(got) is type(want), (
      f'{path}: type {type(got).__name__} != {type(want).__name__}')
  if isinstance(want, dict):
    assert list(got.keys()) == list(want.keys()), f'{path}: keys differ'
    for k in want:
      assert type(k) is type(next(x for x in got if x == k and
                                  type(x) is type(k))), path
      assert_tree_equal(got[k], want[k], f'{path}/{k}')
  elif isinstance(want, (list, tuple)):
    assert len(got) == len(want), f'{path}: length {len(got)} != {len(want)}'
    for i, (g, w) in enumerate(zip(got, want)):
      assert_tree_equal(g, w, f'{path}/{i}')
  elif isinstance(want, np.ndarray):
    assert got.dtype == want.dtype, f'{path}: {got.dtype} != {want.dtype}'
    assert got.shape == want.shape, f'{path}: {got.shape} != {want.shape}'
    assert got.tobytes() == want.tobytes(), f'{path}: values differ'
  elif isinstance(want, float) and want != want:
    assert got != got, path
  else:
    assert got == want, f'{path}: {got!r} != {want!r}'
