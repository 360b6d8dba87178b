"""ckptdb: an embedded checkpoint store with Orbax's Python API.

    import ckptdb as ocp      # in place of: import orbax.checkpoint as ocp

    ckptr = ocp.Checkpointer(ocp.PyTreeCheckpointHandler())
    ckptr.save('/tmp/ckpt', {'w': np.ones(3)}, force=True)
    tree = ckptr.restore('/tmp/ckpt')

    with ocp.CheckpointManager('/tmp/run', options=ocp.CheckpointManagerOptions(
        max_to_keep=3)) as mngr:
      mngr.save(0, args=ocp.args.StandardSave(tree))

See docs/python.md for the mapping to Orbax and the differences.
"""

import sys as _sys

from ckptdb import _ckptdb
from ckptdb import args
from ckptdb import checkpoint_utils
from ckptdb import checkpoint_managers
from ckptdb import metadata
from ckptdb import multihost
from ckptdb import orbax_utils
from ckptdb import sharding
from ckptdb import test_utils
from ckptdb import transform_utils
from ckptdb import tree
from ckptdb import utils
from ckptdb._ckptdb import AlreadyExistsError
from ckptdb._ckptdb import ArrayMetadata
from ckptdb._ckptdb import CorruptionError
from ckptdb._ckptdb import DeadlineExceededError
from ckptdb._ckptdb import Error
from ckptdb._ckptdb import FailedPreconditionError
from ckptdb._ckptdb import InternalError
from ckptdb._ckptdb import InvalidArgumentError
from ckptdb._ckptdb import NotFoundError
from ckptdb._ckptdb import PermissionDeniedError
from ckptdb._ckptdb import ResourceExhaustedError
from ckptdb._ckptdb import SaveFuture
from ckptdb._ckptdb import UnavailableError
from ckptdb._ckptdb import UnimplementedError
from ckptdb._tree import PLACEHOLDER
from ckptdb._tree import StoreTuning
from ckptdb._types import ArrayRestoreArgs
from ckptdb._types import RestoreArgs
from ckptdb._types import SaveArgs
from ckptdb.args import CheckpointArgs
from ckptdb.args import Composite
from ckptdb.checkpoint_manager import AsyncOptions
from ckptdb.checkpoint_manager import CheckpointManager
from ckptdb.checkpoint_manager import CheckpointManagerOptions
from ckptdb.checkpoint_manager import RootMetadata
from ckptdb.checkpoint_manager import StepAlreadyExistsError
from ckptdb.checkpoint_manager import StepMetadata
from ckptdb.checkpointers import AsyncCheckpointer
from ckptdb.checkpointers import Checkpointer
from ckptdb.checkpointers import PyTreeCheckpointer
from ckptdb.checkpointers import StandardCheckpointer
from ckptdb.handlers import ArrayCheckpointHandler
from ckptdb.handlers import CheckpointHandler
from ckptdb.handlers import CompositeCheckpointHandler
from ckptdb.handlers import JaxRandomKeyCheckpointHandler
from ckptdb.handlers import JsonCheckpointHandler
from ckptdb.handlers import NumpyRandomKeyCheckpointHandler
from ckptdb.handlers import ProtoCheckpointHandler
from ckptdb.handlers import PyTreeCheckpointHandler
from ckptdb.handlers import StandardCheckpointHandler
from ckptdb.sharding import ShapeDtypeStruct
from ckptdb.sharding import ShardedArray
from ckptdb.transform_utils import RestoreTransform
from ckptdb.transform_utils import Transform
from ckptdb.transform_utils import apply_transformations
from ckptdb.transform_utils import merge_trees

__version__ = '0.1.0'

__all__ = [
    'AlreadyExistsError', 'ArrayCheckpointHandler', 'ArrayMetadata',
    'ArrayRestoreArgs', 'AsyncCheckpointer', 'AsyncOptions',
    'CheckpointArgs', 'CheckpointHandler', 'CheckpointManager',
    'CheckpointManagerOptions', 'Checkpointer', 'Composite',
    'CompositeCheckpointHandler', 'CorruptionError', 'DeadlineExceededError',
    'Error', 'FailedPreconditionError', 'InternalError',
    'InvalidArgumentError', 'JaxRandomKeyCheckpointHandler',
    'JsonCheckpointHandler', 'NotFoundError', 'NumpyRandomKeyCheckpointHandler',
    'ProtoCheckpointHandler', 'ShapeDtypeStruct', 'ShardedArray',
    'metadata',
    'PLACEHOLDER', 'PermissionDeniedError', 'PyTreeCheckpointHandler',
    'PyTreeCheckpointer', 'ResourceExhaustedError', 'RestoreArgs',
    'RestoreTransform', 'RootMetadata', 'SaveArgs', 'SaveFuture', 'StandardCheckpointHandler',
    'StandardCheckpointer', 'StepAlreadyExistsError', 'StepMetadata',
    'StoreTuning', 'Transform', 'UnavailableError', 'UnimplementedError',
    'apply_transformations', 'args',
    'checkpoint', 'checkpoint_managers', 'checkpoint_utils', 'have_bfloat16',
    'merge_trees', 'multihost', 'orbax_utils', 'sharding', 'test_utils',
    'transform_utils',
    'transforms', 'tree', 'utils', 'v1',
]

# `import ckptdb as orbax` then `orbax.checkpoint.X` (the Flax migration
# guide's spelling) finds the same names.
checkpoint = _sys.modules[__name__]

# Issue 16's spelling of Orbax's transform_utils module (not an Orbax name).
transforms = transform_utils


# Orbax's v1 API (`from orbax.checkpoint import v1 as ocp`); imported last,
# as it builds on the names above.
from ckptdb import v1  # pylint: disable=g-import-not-at-top,wrong-import-position


def have_bfloat16() -> bool:
  """True if numpy bfloat16 arrays (the ml_dtypes package) are available."""
  return _ckptdb.have_bfloat16()
