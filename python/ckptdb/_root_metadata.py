"""CheckpointManager's root metadata (Orbax's metadata/_ROOT_METADATA).

Orbax writes the `metadata=` given to CheckpointManager once, into
`<root>/metadata/_ROOT_METADATA`, and every later manager reads it back.
ckptdb keeps it in a ckptdb checkpoint nested in the manager's database
directory, `<directory>/ckptdb-root-metadata/` (a Checkpointer database
holding the JSON text as one string leaf): saved atomically and checksummed
by the core like any checkpoint, readable by any process, and needing no
new record in the step store. RocksDB ignores a subdirectory it did not
create, and a database is only ever replaced through ckptdb (never rmtree'd).
"""

import json
import os
from typing import Any, Dict, Optional

from ckptdb import _ckptdb

DIRNAME = 'ckptdb-root-metadata'
_KEY = 'custom_metadata_json'


def path(directory: Any) -> str:
  return os.path.join(os.fspath(directory), DIRNAME)


def check_json(metadata: Dict[str, Any]) -> None:
  """TypeError (json's) if metadata is not JSON, as Orbax's serializer."""
  json.dumps(metadata)


def exists(directory: Any) -> bool:
  return os.path.isfile(os.path.join(path(directory), 'CURRENT'))


def write_once(directory: Any, metadata: Dict[str, Any]) -> None:
  """Stores metadata unless some manager already stored root metadata."""
  text = json.dumps(metadata)
  try:
    _ckptdb.Checkpointer(None).save(path(directory), {_KEY: text},
                                    force=False)
  except (_ckptdb.AlreadyExistsError, _ckptdb.FailedPreconditionError):
    # Stored meanwhile by another manager (or being stored: it holds the
    # lock); the first one wins, as Orbax's "write if absent".
    if not exists(directory):
      raise


def read(directory: Any) -> Optional[Dict[str, Any]]:
  """The stored root metadata, or None if none was stored."""
  if not exists(directory):
    return None
  tree = _ckptdb.Checkpointer(None).restore(path(directory))
  return json.loads(tree[_KEY])
