"""Orbax v1's AsyncResponse: the result of save_async / load_async."""

import threading
from typing import Any, Callable, List, Optional


class AsyncResponse:
  """Work running on a background thread (Orbax's AsyncResponse[T]).

  result(timeout=None) waits for it and returns its value or raises its
  error; without a timeout it waits up to the context's
  AsyncOptions.timeout_secs and then raises TimeoutError (the work goes
  on; result() may be called again). on_complete(callback) calls
  callback(value) once the work succeeded (at once if it already has).
  """

  def __init__(self, work: Callable[[], Any], *,
               timeout_secs: Optional[float] = None,
               finalized: Optional[Callable[[], None]] = None,
               name: str = 'ckptdb-v1-async'):
    self._timeout_secs = timeout_secs
    self._finalized = finalized
    self._done = threading.Event()
    self._lock = threading.Lock()
    self._value: Any = None
    self._error: Optional[BaseException] = None
    self._callbacks: List[Callable[[Any], None]] = []
    self._work = work
    # Not a daemon: the interpreter waits for it at exit, so a save commits
    # and no C++ object is torn down under a daemon thread at finalization.
    self._thread = threading.Thread(target=self._run, name=name)
    self._thread.start()

  def _run(self) -> None:
    work, self._work = self._work, None
    try:
      self._value = work()
      if self._finalized is not None:
        self._finalized()
    except BaseException as e:  # pylint: disable=broad-except
      self._error = e
    # Drop the work's references (checkpointer, futures) on this thread
    # before anyone is told it is done.
    del work
    with self._lock:
      self._done.set()
      callbacks, self._callbacks = self._callbacks, []
    if self._error is None:
      for callback in callbacks:
        callback(self._value)

  def done(self) -> bool:
    return self._done.is_set()

  def result(self, timeout: Optional[float] = None) -> Any:
    if timeout is None:
      timeout = self._timeout_secs
    if not self._done.wait(timeout):
      raise TimeoutError(
          f'the background operation did not finish within {timeout} s '
          '(AsyncOptions.timeout_secs or result(timeout=...)); it goes on')
    if self._error is not None:
      raise self._error
    return self._value

  def on_complete(self, callback: Callable[[Any], None]) -> None:
    with self._lock:
      if not self._done.is_set():
        self._callbacks.append(callback)
        return
    if self._error is None:
      callback(self._value)
