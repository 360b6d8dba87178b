"""Small helpers Orbax's documentation uses (ocp.test_utils)."""

import os
import pathlib
import shutil
from typing import Any


def erase_and_create_empty(directory: Any) -> pathlib.Path:
  """Deletes `directory` if it exists and creates it empty."""
  path = pathlib.Path(os.fspath(directory))
  if path.exists():
    shutil.rmtree(path)
  path.mkdir(parents=True)
  return path
