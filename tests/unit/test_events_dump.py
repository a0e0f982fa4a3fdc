"""``celeriac events --dump`` lines are Celery's, character for character.

Each event is formatted by celeriac's ``Dumper`` and by Celery's own
(``celery.events.dumper.Dumper``) and the lines compared, so the format cannot drift.
"""

from __future__ import annotations

import io
from typing import Any

import pytest

from celeriac.cli.events import render
from celeriac.events.dumper import Dumper, humanize_type
from celeriac.events.state import State

celery_dumper = pytest.importorskip("celery.events.dumper")

BASE = {"hostname": "w1@host", "utcoffset": 0.0, "pid": 4242, "clock": 12,
        "timestamp": 1795418325.3229883, "local_received": 1795418325.4}

EVENTS: list[dict[str, Any]] = [
    {**BASE, "type": "worker-online", "freq": 2.0, "active": 0, "processed": 0,
     "loadavg": [0.97, 1.0, 0.84], "sw_ident": "py-celery", "sw_ver": "5.7.0", "sw_sys": "Linux"},
    {**BASE, "type": "worker-heartbeat", "freq": 2.0, "active": 1, "processed": 3},
    {**BASE, "type": "task-received", "uuid": "u1", "name": "proj.add", "args": "(2, 3)",
     "kwargs": "{}", "root_id": "u1", "parent_id": None, "retries": 0, "eta": None,
     "expires": None},
    {**BASE, "type": "task-started", "uuid": "u1"},
    {**BASE, "type": "task-succeeded", "uuid": "u1", "result": "5", "runtime": 0.0124},
    {**BASE, "type": "task-failed", "uuid": "u2", "exception": "ValueError('E')",
     "traceback": "Traceback..."},
    {**BASE, "type": "task-revoked", "uuid": "u1", "terminated": True, "signum": 9,
     "expired": False},
    {**BASE, "type": "worker-offline", "freq": 2.0},
    {"hostname": "w1@host", "timestamp": 1.0, "type": "worker-heartbeat"},
]


def celery_lines(events: list[dict[str, Any]]) -> list[str]:
    out = io.StringIO()
    dumper = celery_dumper.Dumper(out=out)
    for event in events:
        dumper.on_event(dict(event))
    return out.getvalue().splitlines()


def test_lines_match_celery_dumper() -> None:
    out = io.StringIO()
    dumper = Dumper(out=out)
    for event in EVENTS:
        dumper.on_event(dict(event))
    assert out.getvalue().splitlines() == celery_lines(EVENTS)


def test_format_leaves_the_event_alone_and_names_the_task() -> None:
    dumper = Dumper(out=io.StringIO())
    event = dict(EVENTS[2])
    line = dumper.format(event)
    assert event == EVENTS[2]
    assert line.startswith("w1@host [2026-11-23 ")
    assert " task received: proj.add(u1) args=(2, 3) kwargs={} " in line
    assert "task succeeded: proj.add(u1) args=(2, 3) kwargs={} " in dumper.format(EVENTS[4])
    assert humanize_type("worker-online") == "started"
    assert humanize_type("task-retried") == "task retried"


def test_live_view_lists_workers_and_tasks() -> None:
    state = State()
    for event in EVENTS[:5]:
        state.event(dict(event))
    frame = render(state, "redis://:secret@127.0.0.1:6379/0", now=1795418325.3229883)
    assert "secret" not in frame
    assert "w1@host" in frame and "proj.add" in frame and "SUCCESS" in frame
    assert "events: 5  tasks: 1" in frame
    assert "(none yet)" in render(State(), "memory://", now=0.0)
