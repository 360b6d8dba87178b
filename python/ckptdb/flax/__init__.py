"""Flax's legacy checkpoint API on ckptdb, laid out like Flax.

    import ckptdb.flax as flax
    from ckptdb.flax.training import checkpoints

    checkpoints.save_checkpoint(ckpt_dir, state, step, keep=3)
    state = checkpoints.restore_checkpoint(ckpt_dir, target=state)
    data = flax.serialization.to_bytes(state)       # Flax's msgpack bytes

Modules: training.checkpoints (save/restore/list, AsyncManager; stored in
a ckptdb database, legacy msgpack files read directly), training.orbax_utils,
serialization (state dicts and Flax's msgpack format), config (flags),
errors. No JAX or Flax is needed: arrays are numpy arrays. See
docs/python.md, "Legacy Flax API (ckptdb.flax)".
"""

from ckptdb.flax import errors
from ckptdb.flax import serialization
from ckptdb.flax import training
from ckptdb.flax.config import config

__all__ = ['config', 'errors', 'serialization', 'training']
