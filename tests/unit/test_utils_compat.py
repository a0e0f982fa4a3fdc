"""Top-level helpers user code imports from Celery: the same names, run side by side with
Celery's own (installed in the test environment) on the same inputs."""

from __future__ import annotations

import logging
import os
import uuid as std_uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import celeriac
from celeriac.local import PromiseProxy, Proxy, maybe_evaluate, try_import
from celeriac.utils import log as ours_log
from celeriac.utils import nodenames as ours_nodes
from celeriac.utils import time as ours_time

celery_time = pytest.importorskip("celery.utils.time")
celery_nodes = pytest.importorskip("celery.utils.nodenames")
celery_local = pytest.importorskip("celery.local")

NY = ZoneInfo("America/New_York")
NAIVE = datetime(2024, 11, 3, 1, 30)  # a repeated hour in New York
AWARE = datetime(2024, 3, 1, 12, 0, tzinfo=ZoneInfo("UTC"))


def test_uuid_is_a_uuid4_string_at_the_top_level() -> None:
    value = celeriac.uuid()
    assert std_uuid.UUID(value).version == 4
    assert str(std_uuid.UUID(value)) == value
    from celeriac.utils import gen_unique_id, uuid

    assert uuid is gen_unique_id is celeriac.uuid


@pytest.mark.parametrize(("function", "args"), [
    ("maybe_timedelta", (30,)),
    ("maybe_timedelta", (timedelta(seconds=4),)),
    ("maybe_timedelta", ("x",)),
    ("humanize_seconds", (7200,)),
    ("humanize_seconds", (90, "in ", " ")),
    ("humanize_seconds", (0,)),
    ("rate", ("100/m",)),
    ("rate", ("5/h",)),
    ("rate", ("7",)),
    ("rate", (3,)),
    ("rate", (None,)),
    ("weekday", ("Monday",)),
    ("weekday", ("sun",)),
    ("maybe_iso8601", ("2024-03-01T12:00:00+00:00",)),
    ("maybe_iso8601", (None,)),
    ("is_naive", (NAIVE,)),
    ("make_aware", (NAIVE, NY)),
    ("localize", (NAIVE, NY)),
    ("localize", (AWARE, NY)),
    ("maybe_make_aware", (NAIVE,)),
    ("maybe_make_aware", (NAIVE, NY)),
    ("maybe_make_aware", (AWARE, NY)),
    ("to_utc", (NAIVE,)),
    ("delta_resolution", (datetime(2024, 3, 1, 12, 34, 56), timedelta(hours=2))),
    ("add_seconds_to_datetime", (AWARE, 90)),
    ("subtract_datetimes", (AWARE + timedelta(minutes=3), AWARE)),
    ("get_exponential_backoff_interval", (2, 3, 100)),
    ("get_exponential_backoff_interval", (2, 10, 100)),
    ("remaining", (AWARE, timedelta(hours=1), AWARE + timedelta(minutes=20))),
])
def test_time_helpers_agree_with_celery(function: str, args: tuple[Any, ...]) -> None:
    expected = getattr(celery_time, function)(*args)
    actual = getattr(ours_time, function)(*args)
    assert actual == expected
    if isinstance(expected, datetime):
        assert actual.utcoffset() == expected.utcoffset()


def test_weekday_rejects_unknown_names_like_celery() -> None:
    with pytest.raises(KeyError):
        celery_time.weekday("xyz")
    with pytest.raises(KeyError):
        ours_time.weekday("xyz")


def test_timezone_object() -> None:
    zone = ours_time.timezone
    assert zone.get_timezone("Europe/Paris") == ZoneInfo("Europe/Paris")
    assert zone.utc == ZoneInfo("UTC")
    assert zone.to_local(NAIVE, NY) == celery_time.timezone.to_local(NAIVE, NY)
    assert zone.local.utcoffset(AWARE) == celery_time.timezone.local.utcoffset(AWARE)
    assert ours_time.utcoffset() == celery_time.utcoffset()
    assert set(celery_time.__all__) - set(ours_time.__all__) == {"ffwd"}


def test_nodenames_agree_with_celery(monkeypatch: pytest.MonkeyPatch) -> None:
    host = ours_nodes.gethostname()
    assert host == celery_nodes.gethostname()
    assert ours_nodes.nodename("w1", "h") == celery_nodes.nodename("w1", "h")
    assert ours_nodes.anon_nodename() == celery_nodes.anon_nodename()
    assert ours_nodes.anon_nodename("h", "x") == celery_nodes.anon_nodename("h", "x")
    assert tuple(ours_nodes.nodesplit("w1@h")) == tuple(celery_nodes.nodesplit("w1@h"))
    assert ours_nodes.nodesplit("h") == celery_nodes.nodesplit("h")
    assert ours_nodes.default_nodename("w1@h") == celery_nodes.default_nodename("w1@h")
    assert ours_nodes.default_nodename("w1") == "celeriac@w1"  # the name half is celeriac's
    for template in ("%h-%n-%d", "/var/run/%n.pid", "%%h"):
        assert ours_nodes.host_format(template, "a.b.c") == celery_nodes.host_format(
            template, "a.b.c")
        assert ours_nodes.node_format(template, "w1@a.b.c") == celery_nodes.node_format(
            template, "w1@a.b.c")
    assert os.getpid() > 0


def test_get_logger_reparents_under_the_celeriac_logger_as_celery_does() -> None:
    celery_log = pytest.importorskip("celery.utils.log")
    for module, base in ((ours_log, "celeriac"), (celery_log, "celery")):
        logging.getLogger(f"compat_{base}_pkg")  # an existing parent, not the root
        nested = module.get_logger(f"compat_{base}_pkg.module")
        assert nested.parent is module.base_logger is logging.getLogger(base)
        top = module.get_logger(f"compat_{base}_toplevel")  # parent is the root: kept
        assert top.parent is logging.root
    assert ours_log.get_logger("celeriac.inner") is logging.getLogger("celeriac.inner")
    task_logger = ours_log.get_task_logger("proj.tasks.compat")
    assert task_logger.parent is ours_log.task_logger is logging.getLogger("celeriac.task")
    assert ours_log.mlevel("info") == logging.INFO
    assert ours_log.mlevel(10) == 10


def test_proxy_forwards_like_celerys() -> None:
    for cls in (Proxy, celery_local.Proxy):
        target = {"a": 1}
        proxy: Any = cls(lambda: target)  # noqa: B023 - used within the iteration
        assert proxy["a"] == 1 and "a" in proxy and len(proxy) == 1
        assert isinstance(proxy, dict) and proxy == {"a": 1}
        assert repr(proxy) == repr(target)
        proxy["b"] = 2
        assert target == {"a": 1, "b": 2}
    number: Any = Proxy(lambda: 6)
    assert (number + 1, 1 + number, number * 2, -number, int(number)) == (7, 7, 12, -6, 6)
    named: Any = Proxy(lambda: 1, name="answer", __doc__="docs")
    assert (named.__name__, named.__doc__) == ("answer", "docs")


def test_promise_proxy_evaluates_once_and_runs_callbacks() -> None:
    calls: list[str] = []
    def make() -> list[int]:
        calls.append("made")
        return [1, 2]

    promise: Any = PromiseProxy(make)
    promise.__then__(calls.append, "then")
    assert not promise.__evaluated__()
    assert len(promise) == 2 and promise[0] == 1
    assert calls == ["made", "then"]
    assert promise.__evaluated__()
    assert maybe_evaluate(promise) == [1, 2] and maybe_evaluate(3) == 3
    assert try_import("json") is __import__("json")
    assert try_import("no_such_module_x", "fallback") == "fallback"


def test_current_app_and_task_are_proxies() -> None:
    from celeriac import Celery, current_app, current_task

    app = Celery("proxy-check")
    app.set_current()
    assert isinstance(current_app, Celery)
    assert current_app._get_current_object() is app  # type: ignore[attr-defined]
    assert not current_task


def test_task_context_is_importable_from_app_task() -> None:
    from celeriac.app.task import Context

    ctx = Context(id="x", args=[1])
    assert ctx.id == "x" and ctx.args == [1]


def test_celery_utils_helpers() -> None:
    celery_utils = pytest.importorskip("celery.utils")
    import celeriac.utils as ours

    assert list(ours.chunks(iter(range(11)), 3)) == list(celery_utils.chunks(iter(range(11)), 3))
    assert ours.nodename("w", "h") == celery_utils.nodename("w", "h")
    assert dict(celery_utils.LOG_LEVELS) == ours.LOG_LEVELS
    ours.noop(1, x=2)
    assert ours.cached_property.__name__ == "cached_property"


def test_log_helpers_match_celerys() -> None:
    celery_log = pytest.importorskip("celery.utils.log")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom redis://u:pw@h", None, None)
    ours_fmt = ours_log.ColorFormatter("%(levelname)s %(message)s", use_color=False)
    assert ours_fmt.format(record) == "ERROR boom redis://u:**@h"  # passwords never logged
    assert ours_log.ColorFormatter(use_color=True).format(record).startswith("\033[31m")
    with ours_log.in_sighandler():
        assert ours_log._in_sighandler == [True]
    assert ours_log._in_sighandler == [False]
    assert ours_log.get_multiprocessing_logger() is celery_log.get_multiprocessing_logger() \
        or ours_log.get_multiprocessing_logger().name == "multiprocessing"
    ours_log.reset_multiprocessing_logger()
