"""Test set-up: import ckptdb from the build tree.

The package is assembled by the CMake build in <build>/python (default:
build/ at the top of the repository; CKPTDB_BUILD_DIR overrides it). It is
put first on sys.path so that these tests exercise this tree's build even
when another copy is installed.
"""

import os
import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[2]
_BUILD = pathlib.Path(os.environ.get('CKPTDB_BUILD_DIR', _ROOT / 'build'))
_PKG = _BUILD / 'python'
if not (_PKG / 'ckptdb' / '__init__.py').exists():
  raise RuntimeError(f'ckptdb is not built in {_PKG}: run cmake and ninja '
                     '(see README.md), or set CKPTDB_BUILD_DIR')
sys.path.insert(0, str(_PKG))
