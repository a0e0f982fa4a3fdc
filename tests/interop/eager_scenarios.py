# mypy: disable-error-code="untyped-decorator"
"""Eager-mode scenarios run the same way on real Celery and on celeriac
(tests/interop/test_eager_vs_celery.py compares what each library reports).

Each scenario builds a fresh app of the library, runs tasks with ``apply()`` or under
``task_always_eager``, and returns what a test could observe: the result's state, value,
``get()`` behaviour, and the order of the task signals and handler calls.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

Log = list[list[Any]]
Scenario = Callable[[Any, Any], Any]

_SIGNALS = [("task_prerun", "prerun"), ("task_postrun", "postrun"),
            ("task_success", "success"), ("task_failure", "failure"),
            ("task_retry", "retry")]


def _shown(value: Any) -> Any:
    """Exceptions by type name (reprs differ between libraries), other values by repr."""
    return type(value).__name__ if isinstance(value, BaseException) else repr(value)


def _recorder(log: Log, name: str) -> Callable[..., None]:
    def receive(sender: Any = None, **kw: Any) -> None:
        entry: list[Any] = [name]
        if name == "postrun":
            entry += [kw.get("state"), _shown(kw.get("retval"))]
        elif name == "failure":
            entry.append(type(kw["exception"]).__name__)
        elif name == "success":
            entry.append(_shown(kw.get("result")))
        log.append(entry)

    return receive


def build_app(libname: str, log: Log, **conf: Any) -> Any:  # noqa: C901 - one task each
    lib = importlib.import_module(libname)
    exceptions = importlib.import_module(libname + ".exceptions")
    app = lib.Celery("eagercmp", broker="memory://", backend="cache+memory://",
                     set_as_current=False)
    app.conf.update(conf)

    class Hooked(app.Task):  # type: ignore[name-defined,misc]
        def before_start(self, task_id: str, args: Any, kwargs: Any) -> None:
            log.append(["before_start"])

        def on_success(self, retval: Any, task_id: str, args: Any, kwargs: Any) -> None:
            log.append(["on_success", _shown(retval)])

        def on_failure(self, exc: Any, task_id: str, args: Any, kwargs: Any,
                       einfo: Any) -> None:
            log.append(["on_failure", type(exc).__name__])

        def on_retry(self, exc: Any, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
            log.append(["on_retry", type(exc).__name__])

        def after_return(self, status: str, retval: Any, task_id: str, args: Any, kwargs: Any,
                         einfo: Any) -> None:
            log.append(["after_return", status])

    task = app.task

    @task(shared=False, base=Hooked, name="ok")
    def ok(x: Any) -> Any:
        return x * 2

    @task(shared=False, base=Hooked, name="bad")
    def bad() -> None:
        raise ValueError("boom")

    @task(shared=False, base=Hooked, name="flaky", bind=True, max_retries=2,
          default_retry_delay=0)
    def flaky(self: Any, n: int) -> int:
        log.append(["body", self.request.retries, self.request.is_eager,
                    self.request.called_directly])
        if self.request.retries < n:
            raise self.retry(exc=KeyError("again"), countdown=0)
        return int(self.request.retries)

    @task(shared=False, base=Hooked, name="auto", bind=True, autoretry_for=(KeyError,),
          max_retries=2, retry_kwargs={"countdown": 0})
    def auto(self: Any) -> None:
        log.append(["body", self.request.retries])
        raise KeyError("x")

    @task(shared=False, base=Hooked, name="ign")
    def ign() -> None:
        raise exceptions.Ignore()

    @task(shared=False, name="rej")
    def rej() -> None:
        raise exceptions.Reject("no", requeue=False)

    @task(shared=False, name="req", bind=True)
    def req(self: Any) -> dict[str, Any]:
        r = self.request
        return {"is_eager": r.is_eager, "called_directly": r.called_directly,
                "retries": r.retries, "root_is_self": r.root_id == r.id,
                "has_parent": r.parent_id is not None,
                "delivery_info": dict(r.delivery_info or {}), "group": r.group,
                "hostname_set": bool(r.hostname), "loglevel": r.loglevel,
                "logfile": r.logfile}

    @task(shared=False, name="outer", bind=True)
    def outer(self: Any) -> list[Any]:
        inner = req.apply().get()
        return [inner["root_is_self"], inner["has_parent"]]

    @task(shared=False, name="waits")
    def waits() -> Any:
        return add.delay(1, 1).get()

    @task(shared=False, name="ident")
    def ident(x: Any) -> Any:
        return x

    @task(shared=False, name="add")
    def add(x: int, y: int) -> int:
        return x + y

    @task(shared=False, name="tsum")
    def tsum(xs: list[int]) -> int:
        return sum(xs)

    @task(shared=False, name="collect")
    def collect(*args: Any) -> Any:
        log.append(["collect", _shown(args)])
        return args

    return app


def outcome(fun: Callable[[], Any]) -> list[Any]:
    try:
        return ["ok", fun()]
    except BaseException as exc:
        return ["raised", type(exc).__name__]


def result_info(r: Any) -> dict[str, Any]:
    return {"cls": type(r).__name__, "state": r.state, "status": r.status,
            "ready": r.ready(), "successful": r.successful(), "failed": r.failed(),
            "result": _shown(r.result), "has_traceback": r.traceback is not None,
            "get": outcome(lambda: _shown(r.get())),
            "get_no_propagate": outcome(lambda: _shown(r.get(propagate=False))),
            "repr": repr(r).replace(r.id, "ID")}


def _stored(lib: Any, app: Any) -> list[str]:
    good, failed = app.tasks["ok"].apply((5,)), app.tasks["bad"].apply()
    return [app.AsyncResult(good.id).state, app.AsyncResult(failed.id).state]


def _stored_ignored(lib: Any, app: Any) -> list[str]:
    app.conf.task_store_errors_even_if_ignored = True
    failed = app.tasks["bad"].apply(ignore_result=True)
    good = app.tasks["ok"].apply((1,), ignore_result=True)
    return [app.AsyncResult(failed.id).state, app.AsyncResult(good.id).state]


def _revoked(lib: Any, app: Any) -> dict[str, Any]:
    result = app.tasks["ok"].apply((5,))
    result.revoke()
    return result_info(result)


def _then(lib: Any, app: Any) -> list[str]:
    seen: list[str] = []
    result = app.tasks["ok"].apply((5,))
    result.then(lambda r: seen.append(repr(r).replace(result.id, "ID")))
    return seen


def _chain(lib: Any, app: Any) -> list[Any]:
    add = app.tasks["add"]
    result = lib.chain(add.s(1, 2), add.s(3), add.s(4)).apply()
    return [result_info(result), result.parent.get(), result.parent.parent.get(),
            result.parent.parent.parent]


def _chain_delay(lib: Any, app: Any) -> list[Any]:
    add = app.tasks["add"]
    result = lib.chain(add.s(1, 2), add.s(3)).delay()
    return [result_info(result), result.parent.get()]


def _chain_failing(lib: Any, app: Any) -> list[Any]:
    add = app.tasks["add"]
    result = lib.chain(add.s(1, 2), app.tasks["bad"].si(), add.s(4)).apply()
    return [result_info(result), result_info(result.parent)]


def _group(lib: Any, app: Any) -> list[Any]:
    result = lib.group(app.tasks["add"].s(i, i) for i in range(3)).apply()
    return [type(result).__name__, result.get(), [type(r).__name__ for r in result.results],
            result.ready(), result.successful(), result.failed(), result.completed_count(),
            len(result)]


def _group_delay(lib: Any, app: Any) -> list[Any]:
    result = lib.group(app.tasks["add"].s(i, i) for i in range(3)).delay()
    return [type(result).__name__, result.get()]


def _group_failing(lib: Any, app: Any) -> list[Any]:
    result = lib.group([app.tasks["add"].s(1, 1), app.tasks["bad"].si()]).apply()
    return [outcome(result.get), result.failed()]


def _chord(lib: Any, app: Any, eager_delay: bool = False, failing: bool = False) -> Any:
    header = [app.tasks["add"].s(i, i) for i in range(3)]
    if failing:
        header = [app.tasks["add"].s(1, 1), app.tasks["bad"].si()]
    sig = lib.chord(header, app.tasks["tsum"].s())
    return result_info(sig.delay() if eager_delay else sig.apply())


def _ok(lib: Any, app: Any) -> Any:
    return result_info(app.tasks["ok"].apply((2,)))


#: name -> (settings, scenario)
SCENARIOS: dict[str, tuple[dict[str, Any], Scenario]] = {
    "success": ({}, _ok),
    "failure": ({}, lambda lib, app: result_info(app.tasks["bad"].apply())),
    "failure_throw": ({}, lambda lib, app: outcome(lambda: app.tasks["bad"].apply(throw=True))),
    "failure_propagates": ({"task_eager_propagates": True},
                           lambda lib, app: outcome(app.tasks["bad"].apply)),
    "always_eager_delay": ({"task_always_eager": True},
                           lambda lib, app: result_info(app.tasks["ok"].delay(3))),
    "retry": ({}, lambda lib, app: result_info(app.tasks["flaky"].apply((2,)))),
    "retry_exceeded": ({}, lambda lib, app: result_info(app.tasks["flaky"].apply((5,)))),
    "retry_propagates": ({"task_eager_propagates": True},
                         lambda lib, app: outcome(lambda: app.tasks["flaky"].apply((1,)))),
    "autoretry": ({}, lambda lib, app: result_info(app.tasks["auto"].apply())),
    "ignore": ({}, lambda lib, app: result_info(app.tasks["ign"].apply())),
    "reject": ({}, lambda lib, app: result_info(app.tasks["rej"].apply())),
    "request": ({}, lambda lib, app: app.tasks["req"].apply().get()),
    "request_options": ({}, lambda lib, app: app.tasks["req"].apply(
        loglevel=10, logfile="f.log", routing_key="rk", priority=3).get()),
    "nested": ({}, lambda lib, app: app.tasks["outer"].apply().get()),
    "store_eager": ({"task_store_eager_result": True}, _stored),
    "no_store_eager": ({}, _stored),
    "store_errors_ignored": ({}, _stored_ignored),
    "revoke": ({}, _revoked),
    "then": ({}, _then),
    "link": ({"task_always_eager": True}, lambda lib, app: result_info(
        app.tasks["ok"].apply_async((5,), link=app.tasks["collect"].s()))),
    "link_error": ({"task_always_eager": True}, lambda lib, app: result_info(
        app.tasks["bad"].apply_async(link_error=app.tasks["collect"].si("err")))),
    "join_inside_eager_task": ({"task_always_eager": True},
                               lambda lib, app: outcome(lambda: app.tasks["waits"].delay().get())),
    "args_round_trip": ({"task_always_eager": True}, lambda lib, app: outcome(
        lambda: repr(app.tasks["ident"].delay((1, 2)).get()))),
    "kwargs_round_trip": ({"task_always_eager": True}, lambda lib, app: outcome(
        lambda: repr(app.tasks["ident"].delay(x={"a": (1,)}).get()))),
    "unencodable_argument": ({"task_always_eager": True}, lambda lib, app: outcome(
        lambda: app.tasks["ident"].delay(object()))),
    "apply_keeps_arguments": ({}, lambda lib, app: repr(
        app.tasks["ident"].apply(((1, 2),)).get())),
    "chain_apply": ({}, _chain),
    "chain_delay": ({"task_always_eager": True}, _chain_delay),
    "chain_failing": ({}, _chain_failing),
    "group_apply": ({}, _group),
    "group_delay": ({"task_always_eager": True}, _group_delay),
    "group_failing": ({}, _group_failing),
    "chord_apply": ({}, lambda lib, app: _chord(lib, app)),
    "chord_delay": ({"task_always_eager": True},
                    lambda lib, app: _chord(lib, app, eager_delay=True)),
    "chord_failing": ({}, lambda lib, app: _chord(lib, app, failing=True)),
    "chord_failing_delay": ({"task_always_eager": True},
                            lambda lib, app: _chord(lib, app, eager_delay=True, failing=True)),
}


def run_scenario(libname: str, name: str) -> dict[str, Any]:
    """Run one scenario on ``libname`` ("celery" or "celeriac"): its value and its log."""
    signals = importlib.import_module(libname + ".signals")
    lib = importlib.import_module(libname)
    log: Log = []
    conf, scenario = SCENARIOS[name]
    receivers = [(getattr(signals, signal), _recorder(log, short)) for signal, short in _SIGNALS]
    for signal, receiver in receivers:
        signal.connect(receiver, weak=False)
    try:
        app = build_app(libname, log, **conf)
        try:
            value = scenario(lib, app)
        except BaseException as exc:
            value = ["scenario raised", type(exc).__name__, str(exc)[:200]]
        finally:
            app.close()
    finally:
        for signal, receiver in receivers:
            signal.disconnect(receiver)
    return {"value": value, "log": log}
