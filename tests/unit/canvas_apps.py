"""The app the canvas unit tests share: memory:// broker and store, ``proj.add``/``proj.xsum``."""

from __future__ import annotations

import uuid

from celeriac import Celery


def memory_canvas_app() -> Celery:
    """A fresh app of its own broker and store (nothing runs: messages are read back)."""
    made = Celery("proj", broker=f"memory://{uuid.uuid4().hex}",
                  backend=f"cache+memory://{uuid.uuid4().hex}", set_as_current=False)

    @made.task(name="proj.add")
    def add(x: int, y: int) -> int:
        return x + y

    @made.task(name="proj.xsum")
    def xsum(values: list[int]) -> int:
        return sum(values)

    return made
