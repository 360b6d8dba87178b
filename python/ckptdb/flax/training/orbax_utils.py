"""Flax's `flax.training.orbax_utils`: ckptdb.orbax_utils under Flax's name.

    save_args = orbax_utils.save_args_from_target(tree)
    restore_args = orbax_utils.restore_args_from_target(target, mesh=None)

For the ckptdb (Orbax-style) Checkpointer and CheckpointManager; see
ckptdb/orbax_utils.py.
"""

from ckptdb.orbax_utils import restore_args_from_target
from ckptdb.orbax_utils import save_args_from_target

__all__ = ['restore_args_from_target', 'save_args_from_target']
