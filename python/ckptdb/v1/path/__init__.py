"""Orbax v1's ocp.path: Path, PathLike, PathAwaitingCreation and
ocp.path.step (step naming)."""

import os
from typing import Union

from ckptdb.v1.handlers import PathAwaitingCreation

try:
  from etils import epath as _epath  # pylint: disable=g-import-not-at-top
  Path = _epath.Path
except ImportError:  # etils is optional
  import pathlib as _pathlib  # pylint: disable=g-import-not-at-top
  Path = _pathlib.Path

PathLike = Union[str, os.PathLike]

from ckptdb.v1.path import step  # pylint: disable=g-import-not-at-top,wrong-import-position

__all__ = ['Path', 'PathAwaitingCreation', 'PathLike', 'step']
