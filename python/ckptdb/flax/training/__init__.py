"""Flax's `flax.training`: the legacy checkpoint API and orbax_utils."""

from ckptdb.flax.training import checkpoints
from ckptdb.flax.training import orbax_utils

__all__ = ['checkpoints', 'orbax_utils']
