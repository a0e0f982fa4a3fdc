"""Celery 5.7's public Python surface, and where each name lives in celeriac.

A *surface* is a Celery module's ``__all__`` or a Celery class's public attributes. Every name
is keyed ``"<celery path>:<name>"`` (``celery.result:AsyncResult``, ``celery.Celery:send_task``)
and looked up at the same place in celeriac (``celery`` → ``celeriac``). The inventory in
``test_public_api.py`` says, for each key, that celeriac provides it or why it does not.

Run as ``.venv/bin/python -m tests.unit.celery_surface`` to print the keys celeriac provides
and the ones it lacks (what to paste into the inventory after adding names).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

#: Celery modules whose ``__all__`` (or, without one, public non-module names) users import.
MODULES: Final = (
    "celery", "celery.exceptions", "celery.canvas", "celery.schedules", "celery.signals",
    "celery.states", "celery.result", "celery.bootsteps", "celery.beat", "celery.utils.log",
    "celery.utils.time", "celery.utils.nodenames", "celery.local", "celery.app.task",
    "celery.events", "celery.contrib.abortable", "celery.contrib.testing.worker",
    "celery.contrib.testing.app", "celery.contrib.pytest", "celery.contrib.rdb",
    "celery.contrib.migrate",
)

#: Celery classes whose public attributes user code calls: ``(celery path, celeriac path)``.
CLASSES: Final = (
    ("celery.Celery", "celeriac.Celery"),
    ("celery.Task", "celeriac.Task"),
    ("celery.app.task.Context", "celeriac.app.task.Context"),
    ("celery.result.AsyncResult", "celeriac.result.AsyncResult"),
    ("celery.result.ResultSet", "celeriac.result.ResultSet"),
    ("celery.result.GroupResult", "celeriac.result.GroupResult"),
    ("celery.result.EagerResult", "celeriac.result.EagerResult"),
    ("celery.canvas.Signature", "celeriac.canvas.Signature"),
    ("celery.canvas._chain", "celeriac.canvas.chain"),
    ("celery.canvas.group", "celeriac.canvas.group"),
    ("celery.canvas._chord", "celeriac.canvas.chord"),
    ("celery.app.control.Control", "celeriac.control.control.Control"),
    ("celery.app.control.Inspect", "celeriac.control.inspect.Inspect"),
    ("celery.beat.Scheduler", "celeriac.beat.Scheduler"),
    ("celery.beat.ScheduleEntry", "celeriac.beat.ScheduleEntry"),
)


def _resolve(path: str) -> Any:
    """The object at a dotted path, attribute first (``celeriac.canvas.chain`` is the class
    the package exports, not its submodule), importing a submodule only where no attribute
    of that name exists yet. Raises ImportError/AttributeError when absent."""
    parts = path.split(".")
    found: Any = importlib.import_module(parts[0])
    for depth, attr in enumerate(parts[1:], start=2):
        try:
            found = getattr(found, attr)
        except AttributeError:
            if not isinstance(found, type(sys)):
                raise
            found = importlib.import_module(".".join(parts[:depth]))
    return found


def _public(names: Any) -> list[str]:
    return sorted(name for name in names if not name.startswith("_"))


def celery_keys() -> Iterator[tuple[str, str]]:
    """``(key, celeriac path of the name)`` for every public name of Celery's surfaces."""
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        if names is None:
            names = [name for name, value in vars(module).items()
                     if not isinstance(value, type(sys)) and not name.startswith("_")
                     and getattr(value, "__module__", module_name) == module_name]
        target = "celeriac" + module_name[len("celery"):]
        for name in _public(names):
            yield f"{module_name}:{name}", f"{target}.{name}"
    for celery_path, celeriac_path in CLASSES:
        for name in _public(dir(_resolve(celery_path))):
            yield f"{celery_path}:{name}", f"{celeriac_path}.{name}"


def _samples() -> dict[str, Any]:
    """An instance of each celeriac class whose attributes are set per instance (``app.conf``,
    ``result.id``): a name is provided when the class or such an instance has it."""
    from celeriac import Celery
    from celeriac.beat import ScheduleEntry, Scheduler
    from celeriac.canvas import chain, chord, group
    from celeriac.schedules import schedule

    app = Celery("surface", broker="memory://", backend="cache+memory://")
    add = app.task(name="surface.add")(lambda x, y: x + y)
    result = app.AsyncResult("surface-id")
    return {
        "celeriac.Celery": app,
        "celeriac.Task": add,
        "celeriac.app.task.Context": add.request,
        "celeriac.result.AsyncResult": result,
        "celeriac.result.ResultSet": app.ResultSet([result]),
        "celeriac.result.GroupResult": app.GroupResult("surface-gid", [result]),
        "celeriac.canvas.Signature": add.s(1, 2),
        "celeriac.canvas.chain": chain(add.s(1, 2), add.s(3)),
        "celeriac.canvas.group": group(add.s(1, 2), add.s(3, 4)),
        "celeriac.canvas.chord": chord([add.s(1, 2)], add.s(3)),
        "celeriac.control.control.Control": app.control,
        "celeriac.control.inspect.Inspect": app.control.inspect(),
        "celeriac.result.EagerResult": add.apply((1, 2)),
        "celeriac.beat.ScheduleEntry": ScheduleEntry("entry", "surface.add", schedule=schedule(5),
                                                    app=app),
        "celeriac.beat.Scheduler": Scheduler(app, lazy=True),
    }


_SAMPLES: dict[str, Any] = {}


def provided(celeriac_path: str) -> bool:
    """Whether celeriac has something at ``celeriac_path`` (a class's name: on the class or
    on a sample instance of it)."""
    try:
        _resolve(celeriac_path)
    except (ImportError, AttributeError):
        owner, _, name = celeriac_path.rpartition(".")
        if not _SAMPLES:
            _SAMPLES.update(_samples())
        sample = _SAMPLES.get(owner)
        return sample is not None and hasattr(sample, name)
    except Exception:  # importing an optional integration failed: not provided here
        return False
    return True


def survey() -> tuple[list[str], list[str]]:
    """``(provided keys, missing keys)`` of Celery's surface in celeriac as it is now."""
    have: list[str] = []
    lack: list[str] = []
    for key, path in celery_keys():
        (have if provided(path) else lack).append(key)
    return have, lack


PROVIDED_MODULE = Path(__file__).with_name("celery_api_provided.py")


def write_provided(have: list[str]) -> None:
    """Write ``celery_api_provided.py``: the keys celeriac provides now (regenerate after
    adding names; the test then holds them)."""
    body = "".join(f"    {key!r},\n" for key in sorted(have))
    PROVIDED_MODULE.write_text(
        '"""Every public name of Celery 5.7 that celeriac provides (generated by\n'
        '``.venv/bin/python -m tests.unit.celery_surface --write``; ``test_public_api.py``\n'
        'fails if one goes missing)."""\n\nPROVIDED = [\n' + body + "]\n")


if __name__ == "__main__":
    have, lack = survey()
    if "--write" in sys.argv:
        write_provided(have)
    print(f"# provided: {len(have)}, missing: {len(lack)}")
    print("MISSING = [")
    for key in lack:
        print(f"    {key!r},")
    print("]")
