"""The public names of Celery 5.7 that celeriac deliberately does not provide, and why.

``test_public_api.py`` holds this list true both ways (every name celeriac lacks is here; no
name here exists in celeriac), and ``docs/celery-compatibility.md`` shows it to users
(generated: ``.venv/bin/python -m tests.unit.celery_api_not_provided > docs/...``).
Keys are ``tests/unit/celery_surface.py``'s: ``<celery module or class>:<name>``.
"""

from __future__ import annotations

from typing import Final

_COMPAT_MODULE = ("a Celery 3 compatibility module (deprecated since Celery 4): import from "
                  "its current place instead")
_EVENTLET = "the eventlet pool is not built yet (issue 17); nothing would send it"
_KOMBU_OBJECT = ("a kombu object; celeriac speaks the wire protocol without kombu (events "
                 "go out through `EventDispatcher`, connections are celeriac's)")
_WORKER_DIRECT = ("`worker_direct` queues are not supported (the setting is refused), so "
                  "there is nothing to move to or name")
_CLASS_HOOK = ("a class attribute naming Celery's internal component classes; celeriac's "
               "components are not swapped by subclass attributes")
_STRATEGY = ("Celery's worker plugs a per-task `Strategy`/`Request` class into its consumer; "
             "celeriac's worker has no such seam (a task class that sets them gets a warning)")
_PROMISE = ("a `vine` promise method behind `then()`; celeriac's `then()` needs no promise "
            "object")
_INTERNAL_RUN = ("an internal of Celery's canvas (it runs the chain or chord from "
                 "`apply_async`); call `apply_async`/`delay`")

NOT_PROVIDED: Final[dict[str, str]] = {
    "celery:execute": _COMPAT_MODULE,
    "celery:messaging": _COMPAT_MODULE,
    "celery:registry": _COMPAT_MODULE,
    "celery:log": ("Celery's logging-setup module (`celery.app.log`); celeriac's is "
                   "`app.log` and `celeriac.utils.log`"),
    "celery:maybe_patch_concurrency": ("patches the process for eventlet/gevent before "
                                       "Celery's CLI runs; those pools are issue 17"),
    "celery.signals:eventlet_pool_apply": _EVENTLET,
    "celery.signals:eventlet_pool_postshutdown": _EVENTLET,
    "celery.signals:eventlet_pool_preshutdown": _EVENTLET,
    "celery.signals:eventlet_pool_started": _EVENTLET,
    "celery.signals:task_internal_error": ("celeriac records an internal error as the task's "
                                           "FAILURE with `task_failure`; not sent yet"),
    "celery.signals:worker_before_create_process": ("the prefork pool does not send it yet "
                                                    "(its children are made by its own "
                                                    "supervisor)"),
    "celery.result:ResultBase": ("an empty base class; celeriac's results share no such "
                                 "base (test with `AsyncResult`/`ResultSet`)"),
    "celery.beat:BeatPidbox": "beat takes no remote-control commands in celeriac",
    "celery.utils.time:ffwd": "needs python-dateutil's relativedelta, not a dependency",
    "celery.utils.nodenames:worker_direct": _WORKER_DIRECT,
    "celery.contrib.migrate:move_direct": _WORKER_DIRECT,
    "celery.contrib.migrate:move_direct_by_id": _WORKER_DIRECT,
    "celery.events:event_exchange": _KOMBU_OBJECT,
    "celery.events:get_exchange": _KOMBU_OBJECT,
    "celery.app.control.Control:Mailbox": _KOMBU_OBJECT,
    "celery.beat.Scheduler:connection": _KOMBU_OBJECT,
    "celery.Celery:Pickler": "pickling an app is not supported",
    "celery.Celery:amqp_cls": _CLASS_HOOK,
    "celery.Celery:backend_cls": _CLASS_HOOK,
    "celery.Celery:control_cls": _CLASS_HOOK,
    "celery.Celery:events_cls": _CLASS_HOOK,
    "celery.Celery:registry_cls": _CLASS_HOOK,
    "celery.Celery:builtin_fixups": ("a class attribute; pass `fixups=` to `Celery(...)` "
                                     "(celeriac's built-in list is `app.fixups`)"),
    "celery.Celery:select_queues": "use `celeriac worker -Q` or `task_queues`",
    "celery.Celery:type_checker": ("celeriac checks arguments with `Task.typing` when a task "
                                   "is sent, not through this hook"),
    "celery.Task:Request": _STRATEGY,
    "celery.Task:Strategy": _STRATEGY,
    "celery.Task:start_strategy": _STRATEGY,
    "celery.Task:acks_on_timeout": ("the `task_acks_on_failure_or_timeout` choice is not "
                                    "supported per task yet (a class that sets it is warned)"),
    "celery.Task:retry_on_worker_lost": ("a task lost with its worker is requeued by its "
                                         "lease, not retried (a class that sets it is warned)"),
    "celery.Task:from_config": "an internal of Celery's task class (settings-backed defaults)",
    "celery.result.AsyncResult:throw": _PROMISE,
    "celery.result.EagerResult:throw": _PROMISE,
    "celery.result.ResultSet:parent": ("always None in Celery; a result set has no parent "
                                       "task"),
    "celery.canvas._chain:run": _INTERNAL_RUN,
    "celery.canvas._chord:run": _INTERNAL_RUN,
}


def markdown() -> str:
    """The docs page's table: every name celeriac deliberately lacks, with the reason."""
    lines = [
        "# Celery names celeriac does not provide",
        "",
        "celeriac provides Celery 5.7's public Python API (`tests/unit/test_public_api.py` "
        "checks every",
        "name of its modules and main classes). These names are left out on purpose:",
        "",
        "| Celery name | Why not |",
        "|---|---|",
    ]
    for key, reason in sorted(NOT_PROVIDED.items()):
        where, _, name = key.partition(":")
        lines.append(f"| `{where}.{name}` | {reason} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
