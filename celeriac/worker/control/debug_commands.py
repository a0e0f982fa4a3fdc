"""Memory-debugging inspect commands, as Celery's: ``memsample``, ``memdump``, ``objgraph``.

``memsample`` records the worker's resident memory and answers it humanized (``"31.2MB"``);
``memdump`` answers the text report of the samples taken since the last dump plus the RSS
after a garbage collection, and starts a new series. Celery reads the RSS through psutil;
celeriac reads the same number from ``/proc/self/statm`` (what psutil reads on Linux), so it
needs no extra package, and answers an error where there is no ``/proc``. ``objgraph`` draws
the back-references of the objects of one type into a PNG and answers its file name; it
needs the objgraph library (and graphviz), else it answers an error saying so.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import tempfile
from typing import TYPE_CHECKING, Any

from celeriac.worker.control.registry import command

if TYPE_CHECKING:
    from celeriac.worker.control.node import ControlNode

logger = logging.getLogger(__name__)

_UNITS = ((2 ** 40.0, "TB"), (2 ** 30.0, "GB"), (2 ** 20.0, "MB"), (2 ** 10.0, "KB"),
          (0.0, "b"))
_samples: list[str] = []
NO_PROC = "memsample/memdump read /proc/self/statm, which this system does not have"
NO_OBJGRAPH = "objgraph needs the objgraph library: pip install objgraph"


def humanbytes(size: float) -> str:
    """Celery's ``humanbytes``: ``31.25MB``, ``512b``."""
    for divisor, unit in _UNITS:
        if size >= divisor:
            value = size / divisor if divisor else size
            text = str(int(value)) if int(value) == value else f"{value:.5}"
            return f"{text}{unit}"
    return f"{size}b"


def rss() -> str | None:
    """This process's resident memory, humanized; None where there is no ``/proc``."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return humanbytes(pages * os.sysconf("SC_PAGE_SIZE"))


@command("memsample", type="inspect", help="Sample current RSS memory usage.")
def memsample(node: ControlNode, arguments: dict[str, Any]) -> Any:
    current = rss()
    if current is None:
        return {"error": NO_PROC}
    _samples.append(current)
    return current


def _spread(values: list[str], count: int) -> list[str]:
    """Celery's ``sample``: ``count`` values spread evenly over ``values``."""
    if len(values) <= count:
        return list(values)
    step = len(values) // count
    return [values[i * step] for i in range(count)]


@command("memdump", type="inspect", args=(("samples", int),), signature="[n_samples=10]",
         help="Dump statistics of previous memsample requests.")
def memdump(node: ControlNode, arguments: dict[str, Any]) -> Any:
    if rss() is None:
        return {"error": NO_PROC}
    count = max(1, int(arguments.get("samples") or 10))
    previous = _spread(_samples, count)
    _samples.clear()
    gc.collect()
    lines = []
    if previous:
        lines.append("- rss (sample):")
        lines.extend(f"-    > {value}," for value in previous)
    lines.append(f"- rss (end): {rss()}.")
    return "\n".join(lines) + "\n"


@command("objgraph", type="inspect", default_timeout=60.0,
         args=(("type", str), ("num", int), ("max_depth", int)),
         signature="[object_type=Request] [num=200 [max_depth=10]]",
         help="Create graph of uncollected objects (memory-leak debugging).")
def objgraph(node: ControlNode, arguments: dict[str, Any]) -> Any:
    try:
        graphs: Any = importlib.import_module("objgraph")
    except ImportError:
        return {"error": NO_OBJGRAPH}
    kind = str(arguments.get("type") or "Request")
    num = int(arguments.get("num") or 200)
    depth = int(arguments.get("max_depth") or 10)
    logger.info("Dumping graph for type %r", kind)
    with tempfile.NamedTemporaryFile(prefix="cobjg", suffix=".png", delete=False) as handle:
        objects = graphs.by_type(kind)[:num]
        graphs.show_backrefs(objects, max_depth=depth,
                             highlight=lambda value: value in objects, filename=handle.name)
        return {"filename": handle.name}


__all__ = ["NO_OBJGRAPH", "NO_PROC", "humanbytes", "memdump", "memsample", "objgraph", "rss"]
