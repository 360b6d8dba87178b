"""Orbax v1's training errors (orbax.checkpoint.v1.training.errors)."""


class StepAlreadyExistsError(FileExistsError):
  """A step to save already exists (pass overwrite=True to replace it)."""


class StepNotFoundError(FileNotFoundError):
  """A step to load or inspect does not exist."""
