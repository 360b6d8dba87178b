"""Orbax v1's ocp.path.step: NameFormat, standard_name_format,
composite_name_format.

A NameFormat names steps (build_name) and finds them under a root folder
(find_all / find_step): here a step is a sub-folder named by the format
holding a committed checkpoint -- a ckptdb database (as ocp.save writes at
f'{root}/{fmt.build_name(step)}') or an Orbax checkpoint folder ckptdb can
read. (A training.Checkpointer keeps its steps in one database instead: use
its `checkpoints` property there.)
"""

import abc
import dataclasses
import os
import re
from typing import Any, Iterator, List, Optional, Protocol, Sequence

from ckptdb.v1 import _metadata

CheckpointMetadata = _metadata.CheckpointMetadata

__all__ = ['NameFormat', 'composite_name_format', 'standard_name_format']


class NameFormat(Protocol):
  """Names steps and finds them (Orbax's protocol)."""

  def build_name(self, step: int) -> str:
    ...

  @abc.abstractmethod
  def find_all(self, base_path: Any) -> Iterator[CheckpointMetadata]:
    ...

  @abc.abstractmethod
  def find_step(self, base_path: Any, step: int) -> CheckpointMetadata:
    ...


def _committed(path: str) -> Optional[Any]:
  """(init, commit) timestamps of a committed checkpoint at path, or None."""
  from ckptdb import checkpointers  # pylint: disable=g-import-not-at-top
  if not os.path.isdir(path):
    return None
  try:
    m = checkpointers.Checkpointer().metadata(path)
  except Exception:  # pylint: disable=broad-except
    return None
  return m.init_timestamp_nsecs, m.commit_timestamp_nsecs


def _path_like(base: Any, name: str) -> Any:
  try:
    return base / name
  except TypeError:
    return os.path.join(os.fspath(base), name)


@dataclasses.dataclass(frozen=True)
class _StandardNameFormat:
  """step_prefix=None, fixed_length=None -> '23'; 4 -> '0023';
  prefix 'step' -> 'step_23' / 'step_0023'."""
  step_prefix: Optional[str] = None
  step_format_fixed_length: Optional[int] = None
  single_host_load_and_broadcast: bool = False

  def build_name(self, step: int) -> str:
    if step < 0:
      raise ValueError(f'step must be >= 0; got {step}')
    digits = (f'{step:0{self.step_format_fixed_length}d}'
              if self.step_format_fixed_length else str(step))
    return f'{self.step_prefix}_{digits}' if self.step_prefix else digits

  def _step_of(self, name: str) -> Optional[int]:
    prefix = f'{re.escape(self.step_prefix)}_' if self.step_prefix else ''
    digits = (rf'\d{{{self.step_format_fixed_length},}}'
              if self.step_format_fixed_length else r'\d+')
    m = re.fullmatch(prefix + f'({digits})', name)
    if m is None:
      return None
    step = int(m.group(1))
    if (self.step_format_fixed_length and
        len(m.group(1)) > self.step_format_fixed_length and
        m.group(1).startswith('0')):
      return None
    return step

  def _metadata(self, base_path: Any, name: str, step: int
               ) -> Optional[CheckpointMetadata]:
    path = os.path.join(os.fspath(base_path), name)
    times = _committed(path)
    if times is None:
      return None
    return CheckpointMetadata(step=step, path=_path_like(base_path, name),
                              init_timestamp_nsecs=times[0],
                              commit_timestamp_nsecs=times[1])

  def find_all(self, base_path: Any) -> Iterator[CheckpointMetadata]:
    root = os.fspath(base_path)
    if not os.path.isdir(root):
      return
    found: List[Any] = []
    for name in os.listdir(root):
      step = self._step_of(name)
      if step is not None:
        found.append((step, name))
    for step, name in sorted(found):
      m = self._metadata(base_path, name, step)
      if m is not None:
        yield m

  def find_step(self, base_path: Any, step: int) -> CheckpointMetadata:
    name = self.build_name(step)
    m = self._metadata(base_path, name, step)
    if m is None:
      for found in self.find_all(base_path):
        if found.step == step:
          return found
      raise ValueError(f'No committed step={step} found under {base_path} '
                       f'(looked for {name!r})')
    return m

  def __str__(self) -> str:
    return (f'StandardNameFormat(step_prefix={self.step_prefix!r}, '
            f'step_format_fixed_length={self.step_format_fixed_length})')


def standard_name_format(*, step_prefix: Optional[str] = None,
                         step_format_fixed_length: Optional[int] = None,
                         single_host_load_and_broadcast: bool = False
                        ) -> NameFormat:
  """Orbax's standard step names (see _StandardNameFormat);
  single_host_load_and_broadcast has no effect (one process lists)."""
  return _StandardNameFormat(step_prefix, step_format_fixed_length,
                             single_host_load_and_broadcast)


@dataclasses.dataclass(frozen=True)
class _CompositeNameFormat:
  write_name_format: Any
  read_name_formats: Sequence[Any]

  def __post_init__(self):
    if self.write_name_format not in self.read_name_formats:
      raise ValueError(
          f'write_name_format: {self.write_name_format} must be present in '
          f'read_name_formats: [{",".join(map(str, self.read_name_formats))}].')

  def build_name(self, step: int) -> str:
    return self.write_name_format.build_name(step)

  def find_all(self, base_path: Any) -> Iterator[CheckpointMetadata]:
    seen = set()
    for fmt in self.read_name_formats:
      for m in fmt.find_all(base_path):
        key = os.fspath(m.path)
        if key not in seen:
          seen.add(key)
          yield m

  def find_step(self, base_path: Any, step: int) -> CheckpointMetadata:
    errors = []
    for fmt in self.read_name_formats:
      try:
        return fmt.find_step(base_path, step)
      except Exception as e:  # pylint: disable=broad-except
        errors.append(e)
    raise ValueError('\n'.join(str(e) for e in errors))


def composite_name_format(write_name_format: Any,
                          read_name_formats: Sequence[Any]) -> NameFormat:
  """Reads steps named by any of read_name_formats (first match wins),
  writes with write_name_format (which must be among them)."""
  return _CompositeNameFormat(write_name_format, tuple(read_name_formats))
