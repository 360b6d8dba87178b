"""Flax's `flax.errors` classes that the legacy checkpoint API raises.

    try:
      checkpoints.save_checkpoint(ckpt_dir, state, step=3)
    except ckptdb.flax.errors.InvalidCheckpointError as e:
      ...

The messages are Flax's, including the link to Flax's error page that
`FlaxError` appends. `MsgpackFormatError` is ckptdb's own: a legacy msgpack
checkpoint that cannot be decoded (it names the file and the byte offset).
"""

from typing import Any, Optional

_ERROR_PAGE = ('https://flax.readthedocs.io/en/latest/api_reference/'
               'flax.errors.html')


class FlaxError(Exception):
  """Base class of Flax's errors: appends the link to Flax's error page."""

  def __init__(self, message: str):
    error_page = _ERROR_PAGE
    module_name = 'flax.errors'
    class_name = type(self).__name__
    super().__init__(
        f'{message} ({error_page}#{module_name}.{class_name})')


class InvalidCheckpointError(FlaxError):
  """A checkpoint cannot be saved: a newer one or the same one exists.

  Raised by `save_checkpoint(..., overwrite=False)` for a step that is not
  greater than every saved step with the same prefix.
  """

  def __init__(self, path: str, step: Any):
    super().__init__(f'Trying to save an outdated checkpoint at step: '
                     f'"{step}" and path: "{path}".')


class MPACheckpointingRequiredError(FlaxError):
  """A multiprocess array was given to the single-process save."""

  def __init__(self, path: str, step: Any):
    super().__init__(
        f'Checkpoint failed at step: "{step}" and path: "{path}": Target '
        'contains a multiprocess array should be saved/restored with a '
        'GlobalAsyncCheckpointManager.')


class MsgpackFormatError(ValueError):
  """A legacy Flax msgpack checkpoint (file or bytes) that cannot be read.

  Attributes:
    path: the file, or None for bytes given to `from_bytes`/`msgpack_restore`.
    offset: byte offset of the first bad byte, or None if not known.
    reason: what is wrong there.
  """

  def __init__(self, reason: str, path: Optional[str] = None,
               offset: Optional[int] = None):
    self.path = path
    self.offset = offset
    self.reason = reason
    where = path if path is not None else '<bytes>'
    at = f' at byte {offset}' if offset is not None else ''
    super().__init__(
        f'{where}: not a valid Flax msgpack checkpoint{at}: {reason}')
