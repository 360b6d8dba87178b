"""Orbax v1's user-facing errors (ocp.errors) and training's errors
(orbax.checkpoint.v1.training.errors)."""


class InvalidLayoutError(ValueError):
  """A path is not a checkpoint of the expected layout (Orbax's). Raised by
  ckptdb.v1 for a path that is neither a committed ckptdb checkpoint nor an
  Orbax checkpoint folder ckptdb can read, when loading or reading
  metadata of a path that exists."""


class StepAlreadyExistsError(FileExistsError):
  """A step to save already exists (pass overwrite=True to replace it)."""


class StepNotFoundError(FileNotFoundError):
  """A step to load or inspect does not exist."""
