"""Orbax v1's CheckpointMetadata and training RootMetadata."""

import dataclasses
import os
from typing import Any, Optional


@dataclasses.dataclass
class CheckpointMetadata:
  """One checkpoint's metadata (v1 CheckpointMetadata; training's adds step
  and metrics). `metadata`: the saved tree with ckptdb.ArrayMetadata leaves
  (a PyTree's), or {name: tree} for checkpointables; None where only cheap
  properties were read (training.Checkpointer.checkpoints / latest).
  `path`: the checkpoint's path (for a training step, the manager's
  directory joined with the step's name: ckptdb has no step directories)."""
  step: Optional[int] = None
  path: Any = None
  metadata: Any = None
  init_timestamp_nsecs: Optional[int] = None
  commit_timestamp_nsecs: Optional[int] = None
  custom_metadata: Any = None
  metrics: Any = None

  def __class_getitem__(cls, item: Any) -> type:
    # CheckpointMetadata[None], CheckpointMetadata[PyTreeMetadata] (typing).
    del item
    return cls


@dataclasses.dataclass
class RootMetadata:
  """training.Checkpointer.root_metadata(): the sequence's custom metadata
  (persisted with the database, see CheckpointManager.metadata())."""
  directory: Any = None
  custom_metadata: Any = None


def step_path(directory: Any, name: str) -> Any:
  """directory / name, keeping the directory's path type."""
  try:
    return directory / name
  except TypeError:
    return os.path.join(os.fspath(directory), name)
