#!/usr/bin/python3
"""Benchmark (not a test): a 1 GiB save from Python vs the same from C++.

Saves {'params': {'w': float32[N]}, 'step': 1} (N * 4 = --bytes of random
data, so nothing deduplicates) into a fresh checkpoint with
ckptdb.PyTreeCheckpointer().save, and the same tree with the C++
Checkpointer::Save (build/python/bench_save_cpp), alternating, and prints
the median and best times and the Python/C++ ratios.

    /usr/bin/python3 python/bench_save.py [--bytes N] [--rounds R] [--dir D]

Each round runs the C++ program once (two saves: a warm-up and the timed
one, each into a new database) and one timed Python save, in alternating
order from round to round; the Python
process warms up once before the first round. Both sync() before each
timed save so that write-back of earlier files does not land in it.
"""

import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

_ROOT = pathlib.Path(__file__).resolve().parents[1]


def main() -> int:
  p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  p.add_argument('--bytes', type=int, default=1 << 30)
  p.add_argument('--rounds', type=int, default=7)
  p.add_argument('--dir', default=None,
                 help='where to write (default: a new directory in /tmp)')
  p.add_argument('--build', default=str(_ROOT / 'build'))
  a = p.parse_args()

  sys.path.insert(0, str(pathlib.Path(a.build) / 'python'))
  import numpy as np  # pylint: disable=g-import-not-at-top
  import ckptdb  # pylint: disable=g-import-not-at-top

  cpp = pathlib.Path(a.build) / 'python' / 'bench_save_cpp'
  if not cpp.exists():
    print(f'{cpp} is missing: build the project first', file=sys.stderr)
    return 1
  work = pathlib.Path(tempfile.mkdtemp(prefix='ckptdb-bench-', dir=a.dir))
  n = a.bytes // 4
  rng = np.random.default_rng()
  w = rng.integers(0, 2**32, size=n, dtype=np.uint32).view(np.float32)
  tree = {'params': {'w': w}, 'step': 1}
  ckptr = ckptdb.PyTreeCheckpointer()

  def py_save(name: str) -> float:
    path = work / name
    os.sync()  # start from a quiet disk, as bench_save_cpp does
    t0 = time.perf_counter()
    ckptr.save(path, tree)
    t1 = time.perf_counter()
    shutil.rmtree(path)
    return t1 - t0

  def cpp_save() -> float:
    out = subprocess.run([str(cpp), str(work), str(a.bytes), '2'],
                         check=True, capture_output=True, text=True).stdout
    times = [float(line.split()[1]) for line in out.splitlines()
             if line.startswith('cpp_save_seconds')]
    return times[-1]  # the first is the warm-up

  print(f'saving {a.bytes / 2**30:.2f} GiB, {a.rounds} rounds, into {work}')
  py_save('warmup')
  py_times, cpp_times = [], []
  for r in range(a.rounds):
    if r % 2 == 0:  # alternate the order, so that neither always goes first
      c = cpp_save()
      py = py_save(f'py-{r}')
    else:
      py = py_save(f'py-{r}')
      c = cpp_save()
    cpp_times.append(c)
    py_times.append(py)
    print(f'round {r}: C++ {c:.3f} s ({a.bytes / c / 1e9:.2f} GB/s)   '
          f'Python {py:.3f} s ({a.bytes / py / 1e9:.2f} GB/s)')
  shutil.rmtree(work)
  med_py, med_cpp = statistics.median(py_times), statistics.median(cpp_times)
  print(f'median: C++ {med_cpp:.3f} s, Python {med_py:.3f} s, '
        f'ratio Python/C++ {med_py / med_cpp:.3f}')
  print(f'best:   C++ {min(cpp_times):.3f} s, Python {min(py_times):.3f} s, '
        f'ratio Python/C++ {min(py_times) / min(cpp_times):.3f}')
  ratios = [p / c for p, c in zip(py_times, cpp_times)]
  print(f'median of the per-round ratios Python/C++: '
        f'{statistics.median(ratios):.3f}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
