"""The opt-in preemption signal handler of CheckpointManager.

Orbax learns of a preemption from JAX's distributed runtime
(multihost_utils.reached_preemption_sync_point); ckptdb, with one process,
from a signal (SIGTERM, what schedulers send before killing a job). The
handler only records the signal: the program keeps running so that it can
save (PreemptionCheckpointingPolicy, or the default policy) and exit.
"""

import signal
import threading
import warnings
from typing import Any, Dict, Sequence


class SignalHandler:
  """Records that one of `signals` arrived; close() restores the previous
  handlers. Must be created and closed in the main thread (Python's rule
  for signal handlers)."""

  def __init__(self, signals: Sequence[int] = (signal.SIGTERM,)):
    if threading.current_thread() is not threading.main_thread():
      raise ValueError('the preemption handler must be installed from the '
                       'main thread (Python only delivers signals there)')
    self._event = threading.Event()
    self._previous: Dict[int, Any] = {}
    for s in signals:
      self._previous[s] = signal.signal(s, self._on_signal)

  def _on_signal(self, signum: int, frame: Any) -> None:
    del signum, frame
    self._event.set()

  @property
  def reached(self) -> bool:
    return self._event.is_set()

  def close(self) -> None:
    """Puts back the handlers that were installed before this one."""
    previous, self._previous = self._previous, {}
    for s, handler in previous.items():
      try:
        signal.signal(s, handler if handler is not None else signal.SIG_DFL)
      except ValueError:  # not the main thread
        warnings.warn(f'could not restore the handler of signal {s} (close '
                      'the manager from the main thread)', stacklevel=3)
