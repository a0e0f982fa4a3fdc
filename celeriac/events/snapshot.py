"""Cameras: take pictures of a ``State`` at a steady pace (Celery's ``celery.events.snapshot``).

Reading the event stream one event at a time suits a dashboard; storing it suits a picture
every few seconds. Subclass ``Polaroid`` and implement ``on_shutter(state)`` (write the
workers and tasks somewhere) and, if you keep history, ``on_cleanup()``. ``celeriac events
--camera module.Class --frequency 2`` runs one, as ``celery events --camera`` does.

The timer is a daemon thread: ``shutter`` runs there under ``State.freeze_while``, so the
receiver does not change the state while a picture is taken.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any

from celeriac.exceptions import ImproperlyConfigured
from celeriac.utils.dispatch import Signal

if TYPE_CHECKING:
    from celeriac.events.state import State

logger = logging.getLogger("celeriac.evcam")

_PER = {"s": 1.0, "m": 60.0, "h": 3600.0}


def shutters_per_second(maxrate: str | float | None) -> float | None:
    """``'10/m'`` → 1/6; a bare number is per second; None or 0 means no limit."""
    if maxrate in (None, "", 0):
        return None
    count, _, unit = str(maxrate).strip().partition("/")
    try:
        return float(count) / _PER[unit.strip() or "s"]
    except (KeyError, ValueError):
        raise ImproperlyConfigured(
            f"Invalid --maxrate {maxrate!r}: use a number per second or 'N/s', 'N/m', 'N/h'"
        ) from None


class RepeatingTimer:
    """Calls each registered function every ``interval`` seconds on one daemon thread."""

    def __init__(self) -> None:
        self._entries: list[list[Any]] = []  # [interval, next_due, fun]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def call_repeatedly(self, interval: float, fun: Callable[[], Any]) -> None:
        with self._lock:
            self._entries.append([interval, time.monotonic() + interval, fun])
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="celeriac-evcam",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                now = time.monotonic()
                due = [entry for entry in self._entries if entry[1] <= now]
                for entry in due:
                    entry[1] = now + entry[0]
                wait = min((entry[1] for entry in self._entries), default=1.0) - now
            for _, _, fun in due:
                try:
                    fun()
                except Exception:  # a failing camera must not stop the pictures
                    logger.exception("Camera callback %r raised", fun)
            self._stop.wait(max(wait, 0.0))

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)


class Polaroid:
    """Records snapshots of ``state``: ``on_shutter`` every ``freq`` seconds.

    ``maxrate`` (``'10/m'``) caps how often pictures are taken, whatever ``freq`` says;
    ``clear_after`` (class attribute) empties the state after each picture.
    """

    shutter_signal = Signal("shutter_signal", providing_args={"state"})
    cleanup_signal = Signal("cleanup_signal")
    clear_after = False

    def __init__(self, state: State, freq: float = 1.0, maxrate: str | float | None = None,
                 cleanup_freq: float = 3600.0, timer: RepeatingTimer | None = None,
                 app: Any = None) -> None:
        self.app = app
        self.state = state
        self.freq = float(freq)
        self.cleanup_freq = float(cleanup_freq)
        self.timer = timer or RepeatingTimer()
        self.logger = logger
        per_second = shutters_per_second(maxrate)
        self.maxrate = per_second
        self._min_gap = 1.0 / per_second if per_second else 0.0
        self._last_shutter: float | None = None
        self._installed = False

    def install(self) -> None:
        """Start taking pictures every ``freq`` s and cleaning up every ``cleanup_freq`` s."""
        self.timer.call_repeatedly(self.freq, self.capture)
        self.timer.call_repeatedly(self.cleanup_freq, self.cleanup)
        self._installed = True

    def on_shutter(self, state: State) -> None:
        """Override: store or show ``state`` (called with the state frozen)."""

    def on_cleanup(self) -> None:
        """Override: drop old pictures."""

    def cleanup(self) -> None:
        logger.debug("Cleanup: Running...")
        self.cleanup_signal.send(sender=self.state)
        self.on_cleanup()

    def shutter(self) -> None:
        """Take a picture now, unless ``maxrate`` says the last one was too recent."""
        now = time.monotonic()
        if self._last_shutter is not None and now - self._last_shutter < self._min_gap:
            return
        self._last_shutter = now
        logger.debug("Shutter: %s", self.state)
        self.shutter_signal.send(sender=self.state)
        self.on_shutter(self.state)

    def capture(self) -> None:
        self.state.freeze_while(self.shutter, clear_after=self.clear_after)

    def cancel(self) -> None:
        """Stop the timer; like Celery, take one last picture so nothing received is lost."""
        if self._installed:
            self.timer.stop()
            self.capture()
            self._installed = False

    def __enter__(self) -> Polaroid:
        self.install()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.cancel()


__all__ = ["Polaroid", "RepeatingTimer", "shutters_per_second"]
