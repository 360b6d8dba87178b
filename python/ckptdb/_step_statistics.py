"""Persisted save timings (StepMetadata.performance_metrics).

A CheckpointManager knows a save's timings only when its save() call
returns, after the step's commit record was written (synchronous saves) or
handed to the background (async ones), so they cannot ride in that record.
They are appended instead, one JSON object a line, to
`<directory>/ckptdb-step-statistics.jsonl` beside the database (RocksDB
ignores files it did not create). A record names its run, its step and the
time window of the save call; a step's statistics are the last record of that
step whose window holds the step's init timestamp (the time the core's save
began), so a step deleted and saved again never shows the older save's
timings. Lines are written with one O_APPEND write (records of concurrent
writers do not interleave) and not fsynced: timings are advisory, and a
torn or unparsable line is skipped. When the file holds many more records
than steps, the writer rewrites it with the live steps' records only
(atomically: temporary file, then rename).
"""

import json
import os
from typing import Any, Dict, Iterable, List, Optional

FILENAME = 'ckptdb-step-statistics.jsonl'
# Rewrite when the file has more than this many records per live step (and
# at least _MIN_RECORDS_TO_COMPACT).
_COMPACT_RATIO = 4
_MIN_RECORDS_TO_COMPACT = 64
# Fewer bytes than any record takes (Orbax's field names alone are longer).
_MIN_RECORD_BYTES = 200
# Slack for comparing the core's clock with time.time() (both the system
# clock) around the window's ends.
_EPS_SECS = 0.002


def path(directory: Any) -> str:
  return os.path.join(os.fspath(directory), FILENAME)


def append(directory: Any, record: Dict[str, Any]) -> None:
  """Appends one record: Orbax's StepStatistics fields and 'run'."""
  line = (json.dumps(record, separators=(',', ':')) + '\n').encode()
  fd = os.open(path(directory), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
  try:
    os.write(fd, line)
  finally:
    os.close(fd)


def _records(directory: Any) -> List[Dict[str, Any]]:
  try:
    with open(path(directory), 'rb') as f:
      data = f.read()
  except FileNotFoundError:
    return []
  out = []
  for line in data.splitlines():
    try:
      r = json.loads(line)
    except ValueError:
      continue  # a torn last line
    if isinstance(r, dict) and isinstance(r.get('step'), int):
      out.append(r)
  return out


class Reader:
  """Reads the file once per change of its size (a manager's cache)."""

  def __init__(self, directory: Any, run: str):
    self._directory = directory
    self._run = run
    self._size = -1
    self._by_step: Dict[int, List[Dict[str, Any]]] = {}

  def _refresh(self) -> None:
    try:
      size = os.stat(path(self._directory)).st_size
    except FileNotFoundError:
      size = 0
    if size == self._size:
      return
    self._size = size
    self._by_step = {}
    for r in _records(self._directory):
      if r.get('run', '') == self._run:
        self._by_step.setdefault(r['step'], []).append(r)

  def find(self, step: int, init_timestamp_nsecs: int
          ) -> Optional[Dict[str, Any]]:
    """The record of the save of `step` that began the core's save at
    init_timestamp_nsecs, or None."""
    self._refresh()
    t = init_timestamp_nsecs / 1e9
    for r in reversed(self._by_step.get(step, [])):
      start = r.get('checkpoint_manager_blocking_start_time')
      duration = r.get('checkpoint_manager_blocking_duration_secs')
      if start is None or duration is None:
        continue
      if start - _EPS_SECS <= t <= start + duration + _EPS_SECS:
        return r
    return None


def compact(directory: Any, run: str, live_steps: Iterable[int]) -> None:
  """Drops the records of `run`'s deleted steps once they dominate the
  file. A record another process appends meanwhile may be lost (timings
  are advisory)."""
  live = set(live_steps)
  limit = max(_MIN_RECORDS_TO_COMPACT, _COMPACT_RATIO * max(len(live), 1))
  try:
    size = os.stat(path(directory)).st_size
  except FileNotFoundError:
    return
  if size < _MIN_RECORD_BYTES * limit:  # cannot hold `limit` records yet
    return
  records = _records(directory)
  if len(records) < limit:
    return
  kept = [r for r in records
          if r.get('run', '') != run or r['step'] in live]
  tmp = path(directory) + '.tmp'
  with open(tmp, 'w') as f:
    for r in kept:
      f.write(json.dumps(r, separators=(',', ':')) + '\n')
  os.replace(tmp, path(directory))
