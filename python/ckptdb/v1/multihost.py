"""Orbax v1's ocp.multihost over ckptdb.multihost.

process_index / process_count come from ckptdb.multihost (its
initialize(), else JAX's, else one process). sync_global_processes is
Orbax's coroutine (await it): it calls ckptdb.multihost's barrier (the
barrier given to ckptdb.multihost.initialize, or none with one process;
ckptdb's file barrier needs a shared folder: pass directory=).
"""

from typing import Any, Collection, Optional

from ckptdb import multihost as _mh

__all__ = ['is_pathways_backend', 'is_primary_host', 'process_count',
           'process_index', 'sync_global_processes']

process_index = _mh.process_index
process_count = _mh.process_count


def is_primary_host(primary_host: Optional[int] = 0) -> bool:
  """True if primary_host is None or is this process's index (Orbax's)."""
  return primary_host is None or primary_host == process_index()


def is_pathways_backend() -> bool:
  """ckptdb has no Pathways support: False."""
  return False


async def sync_global_processes(key: str, *, operation_id: str = '',
                                timeout: Optional[int] = None,
                                processes: Optional[Collection[int]] = None,
                                directory: Any = None, **unused: Any) -> None:
  """Barrier across processes (Orbax's signature; `processes` other than
  all of them is NotImplementedError)."""
  if processes is not None and set(processes) != set(range(process_count())):
    raise NotImplementedError('ckptdb.v1.multihost.sync_global_processes: a '
                              'barrier over some processes is not supported')
  name = f'{operation_id}.{key}' if operation_id else key
  _mh.sync_global_processes(name.replace('/', '_'), directory,
                            timeout_s=timeout if timeout is not None else 300)
