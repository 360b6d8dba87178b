"""Orbax's Checkpointer and AsyncCheckpointer over ckptdb's C++ core.

A checkpoint path is one ckptdb database directory holding one checkpoint.
Saving reads numpy arrays in place (no copy) while the call runs; the
asynchronous checkpointer copies them once (or borrows them with
borrow=True) and writes in the background. Restoring returns numpy arrays
over the restored buffers (no second copy), leaving a target's arrays
unchanged; with the in_place=True opt-in it fills target arrays in place
when their dtype and shape match.

A path that is an Orbax checkpoint (an item or step folder Orbax wrote) is
restored in place through the C++ reader (see _orbax_direct); saving there
is refused.
"""

import atexit
import os
import sys
import warnings
import weakref
from typing import Any, Dict, Optional

from ckptdb import _ckptdb
from ckptdb import _ignored
from ckptdb import _orbax_direct
from ckptdb import _tree
from ckptdb import args as args_lib
from ckptdb import handlers as handlers_lib
from ckptdb import metadata as metadata_lib

# Async checkpointers and managers still open; closed at interpreter exit so
# that background saves finish while Python is still fully alive.
_LIVE: 'weakref.WeakSet[Any]' = weakref.WeakSet()


def _close_live() -> None:
  for obj in list(_LIVE):
    try:
      obj.close()
    except Exception as e:  # pylint: disable=broad-except
      print(f'ckptdb: closing {obj!r} at exit: {e}', file=sys.stderr)


atexit.register(_close_live)


def register_live(obj: Any) -> None:
  _LIVE.add(obj)


def unregister_live(obj: Any) -> None:
  _LIVE.discard(obj)


def construct_args(handler: handlers_lib.CheckpointHandler, for_save: bool,
                   args: tuple, kwargs: Dict[str, Any]) -> args_lib.CheckpointArgs:
  """The CheckpointArgs of a save/restore call, in either call style."""
  cls = handler.save_args_cls if for_save else handler.restore_args_cls
  if 'args' in kwargs:
    a = kwargs.pop('args')
    if args or kwargs:
      raise ValueError('Pass either `args=` or the legacy item and keyword '
                       f'arguments, not both (got also {list(kwargs)}).')
    if a is None:
      a = cls() if not for_save else None
  elif len(args) == 1 and not kwargs and isinstance(args[0],
                                                      args_lib.CheckpointArgs):
    a = args[0]
  else:
    if for_save and not args and 'item' not in kwargs:
      raise ValueError('Must provide `args` for `save`.')
    a = cls(*args, **kwargs)
  if not isinstance(a, args_lib.CheckpointArgs):
    raise ValueError(f'Expected args of type `CheckpointArgs`; found {type(a)}.')
  return a


def _prefixed(d: Dict[str, str], name: str) -> Dict[str, str]:
  return {_tree.join_path(name, k) if k else name: v for k, v in d.items()}


def _composite_in_place(reqs: Dict[str, Any]) -> bool:
  """Whether one restore of several items may fill targets in place.

  Items without a target restore into arrays made here, which may always be
  filled; items with one need their own in_place opt-in. If some opted in
  and others did not, all get new arrays (with a warning).
  """
  wanted = [r.in_place for r in reqs.values() if r.use_target]
  if any(wanted) and not all(wanted):
    warnings.warn('ckptdb: in_place=True is honoured only when every item '
                  'with a target asks for it; restoring into new arrays',
                  stacklevel=3)
  return all(wanted)


def _handler_name(handler: Any) -> Any:
  """Orbax's item_handlers entry: the handler's type name (None if none)."""
  return None if handler is None else f'ckptdb.{type(handler).__name__}'


def _warn_unused(cls_name: str, options: Dict[str, Any]) -> None:
  for name in sorted(options):
    _ignored.warn_once(f'{cls_name}({name}=...)', _ignored.CHECKPOINTER_OPTION,
                       stacklevel=4)


class Checkpointer:
  """Saves one item to a path and restores it (Orbax's Checkpointer).

      ckptr = ckptdb.Checkpointer(ckptdb.PyTreeCheckpointHandler())
      ckptr.save(path, tree, save_args=..., force=True)       # legacy style
      ckptr.save(path, args=ckptdb.args.PyTreeSave(tree))     # current style
      tree = ckptr.restore(path, item=target)

  save raises AlreadyExistsError (a FileExistsError and ValueError) if a
  checkpoint exists at `path` and force is false; restore raises
  NotFoundError (a FileNotFoundError) if there is none.
  """

  def __init__(self, handler: Optional[handlers_lib.CheckpointHandler] = None,
               *, tuning: Any = None, **unused_options: Any):
    _warn_unused(type(self).__name__, unused_options)
    self._handler = handler if handler is not None else (
        handlers_lib.PyTreeCheckpointHandler())
    self._core = self._make_core(_tree.tuning_dict(tuning))

  def _make_core(self, tuning: Optional[Dict[str, Any]]) -> Any:
    return _ckptdb.Checkpointer(tuning)

  @property
  def handler(self) -> handlers_lib.CheckpointHandler:
    return self._handler

  def save(self, directory: Any, *args: Any, force: bool = False,
           custom_metadata: Any = None, **kwargs: Any) -> Any:
    a = construct_args(self._handler, True, args, kwargs)
    return self._save(os.fspath(directory), a, force, custom_metadata)

  def _save(self, path: str, a: args_lib.CheckpointArgs, force: bool,
            custom_metadata: Any, **extra: Any) -> Any:
    if _orbax_direct.is_orbax_checkpoint(path):
      raise _orbax_direct.refuse_write(path)
    if isinstance(a, args_lib.Composite):
      tree, save_args = {}, {}
      for name, item_args in a.items():
        _tree.check_item_name(name)
        req = item_args._save_request()  # pylint: disable=protected-access
        tree[name] = req.tree
        save_args.update(_prefixed(req.save_args, name))
    else:
      req = a._save_request()  # pylint: disable=protected-access
      tree, save_args = req.tree, req.save_args
      if custom_metadata is None:
        custom_metadata = req.custom_metadata
    try:
      return self._core.save(path, tree, force=force, save_args=save_args,
                             custom_metadata=custom_metadata, **extra)
    except UnicodeEncodeError as e:
      raise _tree.not_utf8_error(e) from e

  def restore(self, directory: Any, *args: Any, **kwargs: Any) -> Any:
    a = construct_args(self._handler, False, args, kwargs)
    path = os.fspath(directory)
    if _orbax_direct.is_orbax_checkpoint(path):
      return self._restore_orbax(path, a)
    if isinstance(a, args_lib.Composite):
      return self._restore_composite(path, a)
    req = a._restore_request()  # pylint: disable=protected-access
    if req.bind is not None:  # transforms: planned from the saved tree
      req = req.bind(self._core.metadata(path))
    result = self._core.restore(
        path, target=req.target, use_target=req.use_target,
        partial_restore=req.partial_restore, restore_args=req.restore_args,
        in_place=req.in_place)
    return req.finish(result)

  def _restore_orbax(self, path: str, a: args_lib.CheckpointArgs) -> Any:
    """Restores an Orbax checkpoint folder in place (read, not imported)."""
    if not isinstance(a, args_lib.Composite):
      item = _orbax_direct.single_item(path)
      req = a._restore_request()  # pylint: disable=protected-access
      return _orbax_direct.restore_item(path, item, req, f"'{path}'")
    if _orbax_direct.is_item_folder(path):
      raise ValueError(f"the Orbax checkpoint at '{path}' is a single item, "
                       'not saved with Composite args')
    names = _orbax_direct.item_names(path)
    wanted = dict(a) if len(a) else {name: None for name in names}
    missing = [n for n in wanted if n not in names]
    if missing:
      raise KeyError(f"items {missing} are not in the checkpoint at '{path}' "
                     f'(it has {names})')
    out = {}
    for name, item_args in wanted.items():
      req = (item_args._restore_request() if item_args is not None  # pylint: disable=protected-access
             else args_lib._RestoreRequest(False, None, False, {}))  # pylint: disable=protected-access
      out[name] = _orbax_direct.restore_item(path, name, req,
                                             f"'{path}' item '{name}'")
    return args_lib.Composite(**out)

  def _restore_composite(self, path: str, a: args_lib.Composite) -> Any:
    meta = self._core.metadata(path)
    if not isinstance(meta, dict):
      raise ValueError(f"the checkpoint at '{path}' was not saved with "
                       'Composite args')
    wanted = dict(a) if len(a) else {name: None for name in meta}
    target, restore_args, reqs = {}, {}, {}
    for name in meta:
      if name not in wanted:
        target[name] = _tree.PLACEHOLDER
        continue
      item_args = wanted[name]
      req = (item_args._restore_request() if item_args is not None  # pylint: disable=protected-access
             else args_lib._RestoreRequest(False, None, False, {}))  # pylint: disable=protected-access
      if req.bind is not None:
        req = req.bind(meta[name])
      # An item without a target restores into its own saved structure.
      target[name] = (req.target if req.use_target else
                      _tree.prepare_target(meta[name]))
      restore_args.update(_prefixed(req.restore_args, name))
      reqs[name] = req
    missing = [n for n in wanted if n not in meta]
    if missing:
      raise KeyError(f"items {missing} are not in the checkpoint at '{path}' "
                     f'(it has {list(meta)})')
    result = self._core.restore(
        path, target=target, use_target=True,
        partial_restore=any(r.partial_restore for r in reqs.values()),
        restore_args=restore_args, in_place=_composite_in_place(reqs))
    return args_lib.Composite(
        **{name: reqs[name].finish(result[name]) for name in reqs})

  def metadata(self, directory: Any) -> metadata_lib.StepMetadata:
    """Orbax's StepMetadata of the checkpoint (Orbax >= 0.9), read without
    reading array bytes: item_metadata is the saved tree with ArrayMetadata
    leaves (a Composite of the items' trees for a
    CompositeCheckpointHandler), with init/commit timestamps and the
    custom_metadata given to save ({} when none). performance_metrics:
    only ckptdb's byte counts (Orbax's Checkpointer records no timings)."""
    path = os.fspath(directory)
    if _orbax_direct.is_orbax_checkpoint(path):
      info = _orbax_direct.step_info(path)
      names = [i['name'] for i in info['items']]
      if _orbax_direct.is_item_folder(path):
        tree = _orbax_direct.item_metadata(path, names[0])
      else:
        tree = {n: _orbax_direct.item_metadata(path, n) for n in names}
    else:
      tree = self._core.metadata(path)  # waits for a save in flight to path
      info = _ckptdb.Checkpointer(None).info(path)
    if isinstance(self._handler, handlers_lib.CompositeCheckpointHandler):
      items = args_lib.Composite(**tree) if isinstance(tree, dict) else tree
      handlers = {name: _handler_name(self._handler.item_handlers.get(name))
                  for name in (tree if isinstance(tree, dict) else ())}
    else:
      items, handlers = tree, _handler_name(self._handler)
    m = metadata_lib.from_info(info, items, handlers)
    m.step = m.name = None  # a Checkpointer's checkpoint has no step
    return m

  def wait_until_finished(self) -> None:
    pass

  def check_for_errors(self) -> None:
    pass

  def close(self) -> None:
    pass

  def __enter__(self) -> 'Checkpointer':
    return self

  def __exit__(self, *exc: Any) -> None:
    self.close()

  def __repr__(self) -> str:
    return f'{type(self).__name__}({self._handler!r})'


class AsyncCheckpointer(Checkpointer):
  """Checkpointer whose saves write in the background (Orbax's).

  save returns once the tree is captured: its arrays are copied once into
  reused buffers, so the caller may change them at once -- or, with
  borrow=True, not copied at all (the caller must leave them unchanged until
  the returned future's wait() or wait_until_finished()). One save is in
  flight at a time; a failed background save raises from the next save,
  wait_until_finished, check_for_errors or close, once.
  """

  def __init__(self, handler: Optional[handlers_lib.CheckpointHandler] = None,
               timeout_secs: Optional[int] = None, *, tuning: Any = None,
               **unused_options: Any):
    if timeout_secs is not None:
      _ignored.warn_once(
          'AsyncCheckpointer(timeout_secs=...)',
          'async saves have no timeout; wait_until_finished() waits for the '
          'save to commit')
    super().__init__(handler, tuning=tuning, **unused_options)
    register_live(self)

  def _make_core(self, tuning: Optional[Dict[str, Any]]) -> Any:
    return _ckptdb.AsyncCheckpointer(tuning)

  def save(self, directory: Any, *args: Any, force: bool = False,
           custom_metadata: Any = None, borrow: bool = False,
           **kwargs: Any) -> Any:
    """Starts a save; returns a SaveFuture (done(), wait())."""
    a = construct_args(self._handler, True, args, kwargs)
    return self._save(os.fspath(directory), a, force, custom_metadata,
                      borrow=borrow)

  def wait_until_finished(self) -> None:
    self._core.wait_until_finished()

  def check_for_errors(self) -> None:
    self._core.check_for_errors()

  def is_saving_in_progress(self) -> bool:
    return self._core.is_saving()

  def close(self) -> None:
    unregister_live(self)
    self._core.close()


class PyTreeCheckpointer(Checkpointer):
  """Checkpointer(PyTreeCheckpointHandler())."""

  def __init__(self, **options: Any):
    super().__init__(handlers_lib.PyTreeCheckpointHandler(), **options)


class StandardCheckpointer(Checkpointer):
  """Checkpointer(StandardCheckpointHandler()), with Orbax's signatures."""

  def __init__(self, **options: Any):
    super().__init__(handlers_lib.StandardCheckpointHandler(), **options)

  def save(self, directory: Any, state: Any = None, *args: Any,
           force: bool = False, custom_metadata: Any = None,
           **kwargs: Any) -> Any:
    if state is not None and not args and not kwargs:
      if not isinstance(state, args_lib.CheckpointArgs):
        state = args_lib.StandardSave(state)
      return super().save(directory, state, force=force,
                          custom_metadata=custom_metadata)
    return super().save(directory, *((state,) if state is not None else ()),
                        *args, force=force, custom_metadata=custom_metadata,
                        **kwargs)

  def restore(self, directory: Any, target: Any = None, *args: Any,
              strict: bool = True, **kwargs: Any) -> Any:
    if isinstance(target, args_lib.CheckpointArgs) or 'args' in kwargs:
      return super().restore(directory, *((target,) if target is not None
                                          else ()), *args, **kwargs)
    return super().restore(directory,
                           args=args_lib.StandardRestore(target, strict=strict))
