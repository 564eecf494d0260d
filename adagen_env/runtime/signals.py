"""Ctrl-C and SIGTERM as requests to stop at the next safe point, so that what is saved is whole.

A signal that lands in the middle of an optimiser step leaves the weights half updated. Inside a
:class:`StopRequest`, SIGINT and SIGTERM only record that a stop was asked for; the training loop
calls :meth:`StopRequest.check` between steps, which raises ``KeyboardInterrupt`` (``Terminated``
for SIGTERM) there. Outside the main thread (where Python cannot install handlers) it does nothing.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, a scheduler, ``docker stop``): handled as Ctrl-C is, exit status 143."""


class StopRequest:
    """``with StopRequest() as stop: ... stop.check()``: signals become a stop at the next check."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _record(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum

    def check(self) -> None:
        """Raise the stop that was asked for since the last check, if any."""
        if self.signum is not None:
            signum, self.signum = self.signum, None
            name = signal.Signals(signum).name
            raise (Terminated if signum == signal.SIGTERM else KeyboardInterrupt)(f"stopped by {name}")
