"""Flax's `flax.config`: named flags, read as attributes, set with update.

    import ckptdb.flax as flax
    flax.config.update('flax_use_orbax_checkpointing', True)
    flax.config.flax_use_orbax_checkpointing       # True

Only flags that the legacy checkpoint API reads, or that code calling it
commonly sets, exist; update() of any other name raises LookupError, as in
Flax. Each flag's default can be set with an environment variable of its
name in upper case ('true'/'false', '1'/'0'), as in Flax.

flax_use_orbax_checkpointing (default False here, True in Flax >= 0.6.11):
  which checks save_checkpoint applies when overwrite=False. False: Flax's
  legacy checks (InvalidCheckpointError for a step not newer than every
  saved one). True: those of Flax's Orbax path (only saving an existing
  checkpoint fails, with ValueError). Either way the checkpoint is stored
  in ckptdb.
"""

import os
from typing import Any, Dict

_DEFAULTS: Dict[str, bool] = {
    'flax_use_orbax_checkpointing': False,
    'flax_return_frozendict': False,
    'flax_fix_rng_separator': False,
}


def _env_bool(name: str, default: bool) -> bool:
  value = os.environ.get(name.upper())
  if value is None:
    return default
  if value.lower() in ('1', 'true', 'yes', 'on'):
    return True
  if value.lower() in ('0', 'false', 'no', 'off'):
    return False
  raise ValueError(f'invalid value {value!r} for {name.upper()}: use true '
                   'or false')


class Config:
  """The flags; `config` is the module's instance."""

  def __init__(self):
    object.__setattr__(self, '_values', {
        name: _env_bool(name, default) for name, default in _DEFAULTS.items()})

  def __getattr__(self, name: str) -> Any:
    values = object.__getattribute__(self, '_values')
    if name in values:
      return values[name]
    raise AttributeError(f'Unrecognized config option: {name}')

  def __setattr__(self, name: str, value: Any) -> None:
    raise AttributeError('use config.update(name, value) to set a flag')

  def update(self, name: str, value: Any) -> None:
    """Sets flag `name` (LookupError if there is no such flag)."""
    if name not in self._values:
      raise LookupError(f'Unrecognized config option: {name}')
    self._values[name] = bool(value)


config = Config()
update = config.update
