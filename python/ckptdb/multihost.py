"""Which process this is, and barriers between processes.

    ckptdb.multihost.initialize(process_index=rank, process_count=world)
    ...
    ckptdb.multihost.sync_global_processes('saved', directory=shared_dir)

Without initialize(), the process index and count are JAX's
(jax.process_index(), jax.process_count()) when JAX is importable, else 0
and 1: a single process.

The default barrier goes through files in a folder every process sees (the
database folder, on a shared filesystem): for the n-th use of a name, each
process creates <directory>/ckptdb-barrier/<name>/<n>/<process_index> and
waits, polling every 10 ms, until all process_count files exist. Every
process counts the uses of each name itself, so a name can be reused; all
processes must therefore call the same barriers in the same order, as with
JAX's sync_global_processes. After passing, each other process adds a
"<process_index>.left" file; the primary (process 0) waits for those (at
most the barrier's timeout, without error) and removes the <n> folder. A barrier that times out leaves its folder behind
(remove <directory>/ckptdb-barrier before restarting all processes).
"""

import os
import shutil
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from ckptdb import _tree

_POLL_S = 0.01
_BARRIER_DIR = 'ckptdb-barrier'

_lock = threading.Lock()
_state: Dict[str, Any] = {'process_index': None, 'process_count': None,
                          'barrier': None}
# (directory, name) -> number of uses of that file barrier so far.
_generations: Dict[Tuple[str, str], int] = {}


def initialize(process_index: int, process_count: int,
               barrier: Optional[Callable[[str], Any]] = None) -> None:
  """Sets this process's index and the number of processes.

  Args:
    process_index: this process, 0 <= process_index < process_count; 0 is
      the primary.
    process_count: the number of processes, >= 1.
    barrier: None (barriers go through files, see sync_global_processes),
      or a callable barrier(name) returning once every process has called it
      with that name (for instance JAX's
      multihost_utils.sync_global_processes).

  Raises:
    ValueError: an index or count out of range. TypeError: barrier is not
      callable.
  """
  if isinstance(process_count, bool) or not isinstance(process_count, int):
    raise TypeError(f'process_count must be an int; got {process_count!r}')
  if isinstance(process_index, bool) or not isinstance(process_index, int):
    raise TypeError(f'process_index must be an int; got {process_index!r}')
  if process_count < 1:
    raise ValueError(f'process_count must be >= 1; got {process_count}')
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index must be in [0, {process_count}); got '
                     f'{process_index}')
  if barrier is not None and not callable(barrier):
    raise TypeError(f'barrier must be callable or None; got {barrier!r}')
  with _lock:
    _state.update(process_index=process_index, process_count=process_count,
                  barrier=barrier)
    _generations.clear()


def _reset() -> None:
  """Forgets initialize() (for tests)."""
  with _lock:
    _state.update(process_index=None, process_count=None, barrier=None)
    _generations.clear()


def _jax() -> Any:
  """The jax module if importable (tried once), else None."""
  return _tree.jax_module()


def process_index() -> int:
  """This process's index: initialize()'s, else JAX's, else 0."""
  if _state['process_index'] is not None:
    return _state['process_index']
  fn = getattr(_jax(), 'process_index', None)  # a partial stand-in: 0
  return int(fn()) if fn is not None else 0


def process_count() -> int:
  """The number of processes: initialize()'s, else JAX's, else 1."""
  if _state['process_count'] is not None:
    return _state['process_count']
  fn = getattr(_jax(), 'process_count', None)
  return int(fn()) if fn is not None else 1


def is_primary_host() -> bool:
  """True for process 0, which commits and removes (as in Orbax)."""
  return process_index() == 0


def barrier() -> Optional[Callable[[str], Any]]:
  """The barrier given to initialize(), or None (the file barrier)."""
  return _state['barrier']


def _wait_for(folder: str, names: Dict[str, int], deadline: float,
              what: str, timeout_s: float) -> None:
  """Polls until every file of names exists in folder.

  Raises:
    TimeoutError: at deadline, naming the processes whose file is missing.
  """
  expected = set(names)
  while True:
    try:
      present = set(os.listdir(folder))
    except FileNotFoundError:
      present = set()
    missing = expected - present
    if not missing:
      return
    if time.monotonic() >= deadline:
      raise TimeoutError(
          f'{what} timed out after {timeout_s} s waiting for processes '
          f'{sorted(names[m] for m in missing)} (folder {folder})')
    time.sleep(_POLL_S)


def sync_global_processes(name: str, directory: Any = None,
                          timeout_s: float = 300) -> None:
  """Returns once every process has called it with this name.

  Uses the barrier given to initialize() (called as barrier(name)) when
  there is one; with a single process returns at once; else the file
  barrier in `directory` described in the module docstring.

  Args:
    name: the barrier's name; a file name (no '/'), the same on every
      process.
    directory: a folder all processes share; needed for the file barrier.
    timeout_s: how long the file barrier waits.

  Raises:
    TimeoutError: some process did not arrive within timeout_s (the message
      names the missing process indices).
    ValueError: the file barrier is needed and directory is None, or name is
      not a plain file name.
  """
  user_barrier = _state['barrier']
  if user_barrier is not None:
    user_barrier(name)
    return
  count = process_count()
  if count == 1:
    return
  if directory is None:
    raise ValueError(
        f'barrier {name!r}: {count} processes and no barrier was given to '
        'ckptdb.multihost.initialize, so a directory shared by all processes '
        'is needed')
  if not name or '/' in name or name in ('.', '..'):
    raise ValueError(f'barrier name {name!r} must be a plain file name')
  index = process_index()
  directory = os.fspath(directory)
  with _lock:
    key = (os.path.abspath(directory), name)
    generation = _generations.get(key, 0)
    _generations[key] = generation + 1
  folder = os.path.join(directory, _BARRIER_DIR, name, str(generation))
  os.makedirs(folder, exist_ok=True)
  mine = os.path.join(folder, str(index))
  with open(mine, 'w', encoding='utf-8'):
    pass
  deadline = time.monotonic() + timeout_s
  what = f'barrier {name!r} (use {generation})'
  try:
    _wait_for(folder, {str(p): p for p in range(count)}, deadline, what,
              timeout_s)
  except TimeoutError:
    try:
      os.remove(mine)
    except OSError:
      pass
    raise
  if index != 0:
    with open(os.path.join(folder, f'{index}.left'), 'w', encoding='utf-8'):
      pass
    return
  # Everyone has arrived at this use, so has left the previous one (which a
  # clean-up that gave up below may have left behind).
  if generation > 0:
    shutil.rmtree(os.path.join(directory, _BARRIER_DIR, name,
                               str(generation - 1)), ignore_errors=True)
  # The others only create their .left file before returning, so this wait
  # is short; once they all have, the folder is unused. A process that died
  # in between leaves it behind (the barrier itself has passed: no error).
  try:
    _wait_for(folder, {f'{p}.left': p for p in range(1, count)},
              time.monotonic() + timeout_s, what + ' clean-up', timeout_s)
  except TimeoutError:
    return
  # The name's folder stays: another process may be creating its next use.
  shutil.rmtree(folder, ignore_errors=True)
