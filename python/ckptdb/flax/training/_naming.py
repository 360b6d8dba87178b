"""Flax's checkpoint naming: paths, natural sort, step numbers.

A checkpoint of `step` is named f'{prefix}{step}' (Python str(): 100 ->
'checkpoint_100', 2.0 -> 'checkpoint_2.0'); lists of checkpoint paths are
ordered by Flax's natural sort, whose key splits a path into text and
signed floats (docs: flax-legacy.md sections 1.2 and 1.9).
"""

import fnmatch
import os
import re
from typing import Any, Iterable, List, Optional

SIGNED_FLOAT_RE = re.compile(
    r'([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)')
UNSIGNED_FLOAT_RE = re.compile(
    r'[-+]?((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)')

# Suffix of the directories of multiprocess arrays, skipped in listings.
MP_ARRAY_POSTFIX = '_gda'
# Orbax's temporary-directory suffix, skipped in listings.
ORBAX_TMP_SUFFIX = '.orbax-checkpoint-tmp'


def natural_sort(file_list: Iterable[str], signed: bool = True) -> List[str]:
  """Sorts strings by their text and numeric parts ('x_9' < 'x_10').

  Flax's natural_sort: numbers (with sign if `signed`, decimals and
  exponents) compare as floats; equal keys keep their input order.
  """
  float_re = SIGNED_FLOAT_RE if signed else UNSIGNED_FLOAT_RE

  def maybe_num(s: str) -> Any:
    return float(s) if float_re.match(s) else s

  def split_keys(s: str) -> List[Any]:
    return [maybe_num(c) for c in float_re.split(s)]

  return sorted(file_list, key=split_keys)


def safe_normpath(path: str) -> str:
  """os.path.normpath that keeps a URL scheme ('gs://a//b' -> 'gs://a/b')."""
  path = os.fspath(path)
  match = re.match(r'^([a-zA-Z][a-zA-Z0-9+.-]*://)(.*)$', path)
  if match:
    return match.group(1) + os.path.normpath(match.group(2))
  return os.path.normpath(path)


def checkpoint_name(step: Any, prefix: str) -> str:
  return f'{prefix}{step}'


def checkpoint_path(ckpt_dir: str, step: Any, prefix: str) -> str:
  return os.path.join(ckpt_dir, checkpoint_name(step, prefix))


def checkpoint_path_step(path: str) -> Optional[float]:
  """The last signed number in `path` (anywhere in it), as Flax reads steps.

  Flax's quirk is kept: '/run7/checkpoint_tmp' gives 7.0.
  """
  for s in SIGNED_FLOAT_RE.split(path)[::-1]:
    if SIGNED_FLOAT_RE.match(s):
      return float(s)
  return None


def is_checkpoint_name(name: str, prefix: str) -> bool:
  """Whether a directory entry is one of the prefix's checkpoints.

  As Flax's _all_checkpoints: matches f'{prefix}*', but not the temporary
  f'{prefix}tmp', multiprocess-array directories or Orbax temporaries.
  """
  return (fnmatch.fnmatchcase(name, f'{prefix}*') and
          not fnmatch.fnmatchcase(name, f'{prefix}tmp') and
          not fnmatch.fnmatchcase(name, f'*{MP_ARRAY_POSTFIX}') and
          not fnmatch.fnmatchcase(name, f'*{ORBAX_TMP_SUFFIX}*'))


def step_from_name(path: str, prefix: str, step_type: Any = int) -> Any:
  """step_type of what follows the last `prefix` in `path` (Flax's rule)."""
  prefix_idx = path.rfind(prefix)
  return step_type(path[prefix_idx + len(prefix):])
