"""How v1 checkpointables with handlers are stored in a ckptdb checkpoint.

A checkpoint is one ckptdb database at `path`. Each checkpointable is
resolved to a handler (ckptdb.v1.handlers, Orbax's rules):
  PyTreeHandler -> a pytree item of the database (as ocp.save always did);
  JsonHandler   -> a JSON item (ckptdb.args.JsonSave);
  ProtoHandler  -> a proto item (ckptdb.args.ProtoSave);
  other handler -> a folder the handler writes:
                   <path>/ckptdb-checkpointables/<name>-<token>/
If any checkpointable is not a pytree, the commit also holds the item
'ckptdb-checkpointables' (JSON; a reserved name): for each such checkpointable its kind,
the handler's type name (Orbax's typestr, used to resolve the handler for
loading) and, for a folder, its name and every file's size and SHA-256.
Loading checks the folder against that record (CorruptionError on a
difference).

Order of a save with folders (the database commit is the switch):
 1. each handler writes into a staging folder next to `path`
    (.<name>.ckptdb-handlers-<token>), then every file and folder is
    fsynced and listed;
 2a. `path` holds a checkpoint (overwrite=True): the folders are renamed to
    <path>/ckptdb-checkpointables/<name>-<token> (a fresh name: the
    committed checkpoint does not refer to it), then the database commits
    the new items and the record; then folders no record refers to are
    deleted;
 2b. no checkpoint at `path`: the database is written at a temporary
    sibling (.<name>.ckptdb-tmp-<token>), the folders are renamed into it,
    and the whole is renamed to `path` (one rename(2)).
What is not atomic: a crash leaves the staging / temporary folders, or an
unreferenced folder inside ckptdb-checkpointables, behind (garbage, never
read: the next overwrite of `path` deletes unreferenced folders); a load
that read the previous record before an overwrite committed may find that
record's folder already deleted (FileNotFoundError) -- as for any reader of
a path being overwritten; two writers overwriting the same path at once
may delete each other's uncommitted folder (the database's lock covers its
commit, not the folders), so the later commit can name a folder that is
gone (FileNotFoundError on load: never a wrong value). Async saves run the handlers (both their blocking
and background parts) before save_checkpointables_async returns; the
database items still commit in the background.
"""

import hashlib
import json
import os
import shutil
import uuid
from typing import Any, Dict, List, Optional, Tuple

from ckptdb import _ckptdb
from ckptdb import _orbax_direct
from ckptdb import args as args_lib
from ckptdb.v1 import handlers as handlers_lib

RECORD_ITEM = 'ckptdb-checkpointables'  # reserved item name
FOLDER = 'ckptdb-checkpointables'


def registry(ctx: Any) -> Any:
  reg = ctx.checkpointables.registry
  return reg if reg is not None else handlers_lib.global_registry()


def db_args(handler: Any, value: Any, pytree_args: Any) -> Any:
  """The ckptdb args of a checkpointable whose handler maps onto the
  database, else None (a folder handler)."""
  if isinstance(handler, handlers_lib.PyTreeHandler):
    return pytree_args(value)
  if isinstance(handler, handlers_lib.JsonHandler):
    return args_lib.JsonSave(value)
  if isinstance(handler, handlers_lib.ProtoHandler):
    return args_lib.ProtoSave(value)
  return None


def kind_of(handler: Any) -> str:
  if isinstance(handler, handlers_lib.PyTreeHandler):
    return 'pytree'
  if isinstance(handler, handlers_lib.JsonHandler):
    return 'json'
  if isinstance(handler, handlers_lib.ProtoHandler):
    return 'proto'
  return 'folder'


def plan_save(ctx: Any, items: Dict[str, Any], pytree_args: Any
             ) -> Tuple[Dict[str, Any], Dict[str, Any], Dict[str, Any]]:
  """(database args by name, folder handlers by name, record by name)."""
  reg = registry(ctx)
  db, folders, record = {}, {}, {}
  for name, value in items.items():
    if isinstance(value, args_lib.CheckpointArgs):
      db[name] = value
      continue
    if value is None:  # an empty item, as ckptdb saved it before handlers
      db[name] = pytree_args(value)
      continue
    try:
      handler = handlers_lib.resolve_handler_for_save(reg, value, name=name)
    except handlers_lib.NoEntryError:
      if ctx.checkpointables.registry is not None:
        raise
      db[name] = pytree_args(value)  # ckptdb's own error if not storable
      continue
    a = db_args(handler, value, pytree_args)
    kind = kind_of(handler)
    if kind != 'pytree':
      record[name] = {'kind': kind,
                      'handler': handlers_lib.typestr(type(handler))}
    if a is not None:
      db[name] = a
    else:
      folders[name] = (handler, value)
  return db, folders, record


def _listing(root: str, fsync: bool) -> List[List[Any]]:
  """[relpath, size, sha256] of every file under root, in walk order;
  with fsync, every file and folder is fsynced too."""
  listing = []
  for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for fname in sorted(filenames):
      full = os.path.join(dirpath, fname)
      h = hashlib.sha256()
      with open(full, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
          h.update(block)
        if fsync:
          os.fsync(f.fileno())
      listing.append([os.path.relpath(full, root).replace(os.sep, '/'),
                      os.path.getsize(full), h.hexdigest()])
    if fsync:
      _fsync_dir(dirpath)
  return listing


def _fsync_tree(root: str) -> List[List[Any]]:
  """fsyncs every file and folder under root; [relpath, size, sha256]."""
  return _listing(root, fsync=True)


def _fsync_dir(path: str) -> None:
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def is_database(path: str) -> bool:
  return os.path.isfile(os.path.join(path, 'CURRENT'))


class FolderSave:
  """One save with folder handlers: write_folders() (in the caller), then
  the database save into target(), then finish() after the commit (or
  abort() on failure)."""

  def __init__(self, ctx: Any, path: str, folders: Dict[str, Any],
               record: Dict[str, Any], overwrite: bool):
    self._ctx = ctx
    self.path = os.path.abspath(path)
    self._folders = folders
    self.record = record
    self._token = uuid.uuid4().hex[:12]
    parent, base = os.path.split(self.path)
    self._staging = os.path.join(parent, f'.{base}.ckptdb-handlers-'
                                 f'{self._token}')
    self.exists = is_database(self.path)
    self._tmp = (None if self.exists else
                 os.path.join(parent, f'.{base}.ckptdb-tmp-{self._token}'))
    if _orbax_direct.is_orbax_checkpoint(self.path):
      raise _orbax_direct.refuse_write(self.path)
    if self.exists and not overwrite:
      raise _ckptdb.AlreadyExistsError(
          f"a checkpoint already exists at '{path}' (pass overwrite=True to "
          'replace it)')
    if (not self.exists and os.path.isdir(self.path) and
        os.listdir(self.path)):
      raise _ckptdb.FailedPreconditionError(
          f"'{path}' is not a ckptdb database and not empty; refusing to use "
          'it')

  def write_folders(self) -> None:
    os.makedirs(self._staging)
    for name, (handler, value) in self._folders.items():
      d = self._ctx.file.path_class(os.path.join(self._staging, name))
      os.makedirs(os.fspath(d))
      handlers_lib.run_sync(
          lambda h=handler, d=d, v=value: h.save(
              handlers_lib.PathAwaitingCreation(d), v))
      self.record[name]['folder'] = f'{name}-{self._token}'
      self.record[name]['files'] = _fsync_tree(os.fspath(d))
    _fsync_dir(self._staging)

  def target(self) -> str:
    """Where the database is written; the folders are moved there first
    when it exists."""
    if self.exists:
      self._move_folders(self.path)
      return self.path
    return self._tmp

  def _move_folders(self, db: str) -> None:
    root = os.path.join(db, FOLDER)
    os.makedirs(root, exist_ok=True)
    for name in self._folders:
      os.rename(os.path.join(self._staging, name),
                os.path.join(root, self.record[name]['folder']))
    _fsync_dir(root)
    _fsync_dir(db)

  def finish(self) -> None:
    """After the database commit."""
    if self.exists:
      remove_unreferenced(self.path, self.record)
    else:
      self._move_folders(self._tmp)
      try:
        os.rename(self._tmp, self.path)
      except OSError as e:
        raise _ckptdb.AlreadyExistsError(
            f"a checkpoint appeared at '{self.path}' during the save") from e
      _fsync_dir(os.path.dirname(self.path))
      self._tmp = None
    shutil.rmtree(self._staging, ignore_errors=True)

  def abort(self) -> None:
    shutil.rmtree(self._staging, ignore_errors=True)
    if self._tmp is not None:
      shutil.rmtree(self._tmp, ignore_errors=True)
    if self.exists:  # folders moved in but not committed
      for name in self._folders:
        folder = self.record[name].get('folder')
        if folder:
          shutil.rmtree(os.path.join(self.path, FOLDER, folder),
                        ignore_errors=True)


def remove_unreferenced(path: str, record: Optional[Dict[str, Any]]) -> None:
  """Deletes folders of ckptdb-checkpointables no committed record names."""
  root = os.path.join(path, FOLDER)
  if not os.path.isdir(root):
    return
  keep = {r.get('folder') for r in (record or {}).values()}
  for entry in os.listdir(root):
    if entry not in keep:
      shutil.rmtree(os.path.join(root, entry), ignore_errors=True)


def read_record(path: str, items: Any) -> Dict[str, Any]:
  """The checkpoint's record ({} if it has none); items: its item names."""
  if not isinstance(items, dict) or RECORD_ITEM not in items:
    return {}
  from ckptdb import checkpointers  # pylint: disable=g-import-not-at-top
  from ckptdb import handlers  # pylint: disable=g-import-not-at-top
  result = checkpointers.Checkpointer(
      handlers.CompositeCheckpointHandler()).restore(
          path, args=args_lib.Composite(
              **{RECORD_ITEM: args_lib.JsonRestore()}))
  return dict(result[RECORD_ITEM])


def folder_path(ctx: Any, path: str, entry: Dict[str, Any]) -> Any:
  return ctx.file.path_class(os.path.join(path, FOLDER, entry['folder']))


def verify(path: str, name: str, entry: Dict[str, Any]) -> None:
  """Checks a folder against the committed record."""
  root = os.path.join(path, FOLDER, entry['folder'])
  if not os.path.isdir(root):
    raise FileNotFoundError(
        f"checkpointable '{name}' of '{path}': its folder {root} is missing")
  found = _listing(root, fsync=False)
  if found != entry['files']:
    raise _ckptdb.CorruptionError(
        f"checkpointable '{name}' of '{path}': the files of {root} differ "
        'from those the checkpoint committed')


def handler_for_load(ctx: Any, name: str, entry: Dict[str, Any],
                     abstract: Any) -> Any:
  return handlers_lib.resolve_handler_for_load(
      registry(ctx), abstract, name=name, handler_typestr=entry['handler'])


def load_folder(ctx: Any, path: str, name: str, entry: Dict[str, Any],
                abstract: Any) -> Any:
  verify(path, name, entry)
  handler = handler_for_load(ctx, name, entry, abstract)
  d = folder_path(ctx, path, entry)
  return handlers_lib.run_sync(lambda: handler.load(d, abstract))


def folder_metadata(ctx: Any, path: str, name: str,
                    entry: Dict[str, Any]) -> Any:
  handler = handler_for_load(ctx, name, entry, None)
  d = folder_path(ctx, path, entry)
  try:
    return handlers_lib.run_sync(lambda: handler.metadata(d))
  except NotImplementedError:
    return None


def restore_args(entry: Optional[Dict[str, Any]], abstract: Any,
                 default: Any) -> Any:
  """Restore args of a database item given its record entry."""
  if isinstance(abstract, args_lib.CheckpointArgs):
    return abstract
  kind = entry and entry.get('kind')
  if kind == 'json':
    return args_lib.JsonRestore()
  if kind == 'proto':
    return args_lib.ProtoRestore(abstract)
  return default(abstract)


def dumps(record: Dict[str, Any]) -> Any:
  return args_lib.JsonSave(json.loads(json.dumps(record)))
