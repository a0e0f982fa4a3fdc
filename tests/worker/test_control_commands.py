"""Remote-control commands beyond the basics, against in-process ``ControlNode``s (memory://
and SQLite): user-defined commands (Celery's decorators), the events/election/debugging
commands, the client methods' wire arguments, and the CLI's ``--list``/``--json``/arguments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from celeriac import Celery
from celeriac.cli.main import CliState, cli
from celeriac.control import Control
from celeriac.control.revocations import open_revocation_store
from celeriac.worker.control import ControlNode, ControlState, control_command, inspect_command
from celeriac.worker.control.registry import CELERY_SHAPES, COMMANDS, META, commands_of_type
from celeriac.worker.revoked import RevokedRegistry
from tests.worker.test_control_node import FakeWorker

SEEN: list[tuple[str, Any]] = []


@inspect_command(args=[("n", int)], signature="<n>", alias="ctest_twice")
def ctest_double(state: ControlState, n: int = 1, **kwargs: Any) -> Any:
    """Double n (a user-defined inspect command)."""
    return {"value": n * 2, "hostname": state.hostname,
            "registered": len(state.view.registered())}


@control_command(name="ctest_remember", args=[("word", str)], variadic="more",
                 signature="<word> [more...]")
def remember(state: ControlState, word: str, more: Any = (), **kwargs: Any) -> Any:
    """Remember a word (a user-defined control command)."""
    SEEN.append((state.hostname, [word, *more]))
    return {"ok": f"remembered {word}"}


@inspect_command(visible=False)
def ctest_hidden(state: ControlState) -> Any:
    return "hidden"


class RecordingNode(ControlNode):
    """A node that records what it was asked instead of running it (client-side checks)."""

    asked: list[tuple[str, dict[str, Any]]]

    def dispatch(self, method: str, arguments: Mapping[str, Any]) -> Any:
        self.asked.append((method, dict(arguments)))
        return {"ok": "recorded"}


@pytest.fixture(params=["memory", "sqlite"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Celery]:
    url = (f"memory://ctl-{uuid.uuid4().hex}" if request.param == "memory"
           else f"sqlite:///{tmp_path / 'broker.db'}")
    app = Celery("control_commands", broker=url, set_as_current=False)
    yield app
    app.close()


def _start(app: Celery, hostname: str, cls: type[ControlNode] = ControlNode) -> ControlNode:
    worker_app = Celery("control_worker", broker=app.conf.broker_url, set_as_current=False)
    view = FakeWorker(hostname, RevokedRegistry(open_revocation_store(worker_app.transport)))
    node = cls(worker_app.transport.channel(), view, poll_timeout=0.1)
    assert node.start()
    return node


@pytest.fixture
def node(app: Celery) -> Iterator[ControlNode]:
    node = _start(app, "w1@test")
    yield node
    node.stop()
    node.channel.close()


@pytest.fixture
def control(app: Celery) -> Iterator[Control]:
    control = Control(app)
    yield control
    control.close()


def _ask(control: Control, method: str, **arguments: Any) -> Any:
    [reply] = control.broadcast(method, arguments, destination="w1@test", reply=True,
                                timeout=3.0) or [{}]
    return reply["w1@test"]


def test_user_commands_share_the_registry_with_celerys_meta() -> None:
    from celeriac.cli.control import compile_arguments  # after cli.main: it registers it

    assert COMMANDS["ctest_double"] is COMMANDS["ctest_twice"]  # alias
    assert META["ctest_double"].type == "inspect"
    assert META["ctest_double"].help == "Double n (a user-defined inspect command)."
    assert "ctest_remember" in commands_of_type("control")
    assert "ctest_hidden" not in commands_of_type("inspect")  # visible=False
    assert compile_arguments("ctest_double", ["21"]) == {"n": 21}
    assert compile_arguments("ctest_remember", ["a", "b", "c"]) == {"word": "a",
                                                                    "more": ["b", "c"]}
    assert compile_arguments("terminate", ["KILL", "id1"]) == {"signal": "KILL",
                                                               "task_id": ["id1"]}
    assert compile_arguments("time_limit", ["t", "1.5"]) == {"task_name": "t", "soft": 1.5}
    assert compile_arguments("conf", ["true"]) == {"with_defaults": True}


def test_user_commands_through_broadcast(control: Control, node: ControlNode) -> None:
    assert _ask(control, "ctest_double", n=21) == {"value": 42, "hostname": "w1@test",
                                                    "registered": 3}
    assert _ask(control, "ctest_twice", n=2)["value"] == 4
    assert _ask(control, "ctest_remember", word="hi") == {"ok": "remembered hi"}
    assert ("w1@test", ["hi"]) in SEEN
    # Celery's calling convention: an argument the handler lacks is the handler's error.
    assert "TypeError" in _ask(control, "ctest_hidden", bogus=1)["error"]


def test_event_commands_reply_shapes(control: Control, node: ControlNode) -> None:
    view = node.view
    assert isinstance(view, FakeWorker)
    assert _ask(control, "enable_events") == {"ok": "task events enabled"}
    assert _ask(control, "enable_events") == {"ok": "task events already enabled"}
    assert _ask(control, "disable_events") == {"ok": "task events disabled"}
    assert _ask(control, "disable_events") == {"ok": "task events already disabled"}
    assert _ask(control, "heartbeat") is None  # Celery answers None
    assert ("heartbeat", None) in view.calls
    assert control.heartbeat(destination="w1@test", reply=True, timeout=3.0) == [
        {"w1@test": None}]
    assert control.enable_events(destination="w1@test", reply=True, timeout=3.0) == [
        {"w1@test": {"ok": "task events enabled"}}]
    assert _ask(control, "election", id="e1", topic="task", action={"task": "t"}) is None
    assert ("election", ("e1", "task", {"task": "t"})) in view.calls
    view.gossip = False  # --without-gossip: no part taken, said to a client that asks
    assert "no part in gossip" in _ask(control, "election", id="e2", topic="task")["error"]


def test_conf_with_defaults(control: Control, node: ControlNode) -> None:
    inspect = control.inspect(destination="w1@test", timeout=3.0)
    assert inspect.conf() == {"task_default_queue": "celery"}
    assert inspect.conf(with_defaults=True)["defaults"] is True


def test_debugging_commands(control: Control, node: ControlNode) -> None:
    inspect = control.inspect(destination="w1@test", timeout=3.0)
    sample = inspect.memsample()
    assert isinstance(sample, str) and sample[-2:] in {"MB", "KB", "GB"}
    inspect.memsample()
    dump = inspect.memdump(samples=5)
    assert dump.startswith("- rss (sample):\n-    > ") and "- rss (end): " in dump
    assert inspect.objgraph() == {"error": "objgraph needs the objgraph library: "
                                           "pip install objgraph"}


def test_client_methods_send_celerys_arguments(app: Celery, control: Control) -> None:
    RecordingNode.asked = []
    node = _start(app, "w1@test", RecordingNode)
    assert isinstance(node, RecordingNode)
    try:
        calls: list[tuple[Callable[[], Any], tuple[str, dict[str, Any]]]] = [
            (lambda: control.pool_grow(2, destination="w1@test", reply=True),
             ("pool_grow", {"n": 2})),
            (lambda: control.pool_shrink(destination="w1@test", reply=True),
             ("pool_shrink", {"n": 1})),
            (lambda: control.autoscale(10, 3, destination="w1@test", reply=True),
             ("autoscale", {"max": 10, "min": 3})),
            (lambda: control.pool_restart(["m"], reload=True, destination="w1@test",
                                          reply=True),
             ("pool_restart", {"modules": ["m"], "reload": True, "reloader": None})),
            (lambda: control.add_consumer("q1", options={"queue_arguments": {"x": 1}},
                                          destination="w1@test", reply=True),
             ("add_consumer", {"queue": "q1", "exchange": None, "exchange_type": "direct",
                               "routing_key": None, "queue_arguments": {"x": 1}})),
            (lambda: control.cancel_consumer("q1", destination="w1@test", reply=True),
             ("cancel_consumer", {"queue": "q1"})),
            (lambda: control.disable_events(destination="w1@test", reply=True),
             ("disable_events", {})),
        ]
        for call, expected in calls:
            assert call() == [{"w1@test": {"ok": "recorded"}}]
            assert node.asked[-1] == expected
        control.election("e1", "task", "act")
        control.ping(destination=["w1@test"], timeout=3.0)  # processed after the election
        assert ("election", {"id": "e1", "topic": "task", "action": "act"}) in node.asked
    finally:
        node.stop()
        node.channel.close()


def test_purge_empties_the_apps_queues(app: Celery, control: Control) -> None:
    app.conf.task_default_queue = f"q-{uuid.uuid4().hex[:6]}"
    for _ in range(3):
        app.send_task("proj.add", (1, 2))
    assert control.purge() == 3
    assert control.discard_all() == 0


def _cli(app: Celery, *args: str) -> Result:
    return CliRunner().invoke(cli, list(args), obj=CliState(app_object=app))


def test_cli_list_shows_commands_with_signature_and_help(app: Celery) -> None:
    result = _cli(app, "inspect", "--list")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Inspect Commands:\n")
    assert "ctest_double <n>" in result.output and "Double n" in result.output
    assert "memdump [n_samples=10]" in result.output
    assert "ctest_hidden" not in result.output and "revoke " not in result.output
    result = _cli(app, "control", "--list")
    assert result.exit_code == 0, result.output
    assert "ctest_remember <word> [more...]" in result.output
    assert "rate_limit <task_name> <rate_limit" in result.output
    assert "enable_events" in result.output and "memsample" not in result.output


def test_cli_calls_user_and_builtin_commands(app: Celery, node: ControlNode) -> None:
    result = _cli(app, "inspect", "ctest_double", "21", "-d", "w1@test", "-t", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"w1@test": {"value": 42, "hostname": "w1@test",
                                                     "registered": 3}}
    result = _cli(app, "control", "ctest_remember", "x", "y", "-d", "w1@test", "-t", "3")
    assert result.exit_code == 0, result.output
    assert result.output == "->  w1@test: OK\n        remembered x\n"
    result = _cli(app, "control", "ctest_remember", "z", "-j", "-d", "w1@test", "-t", "3")
    assert json.loads(result.output) == [{"w1@test": {"ok": "remembered z"}}]
    result = _cli(app, "inspect", "registered", "-d", "w1@test", "-t", "3")
    assert result.output == ("->  w1@test: OK\n    * proj.add\n    * proj.sleepy\n"
                             "\n1 node online.\n")
    result = _cli(app, "control", "heartbeat", "-d", "w1@test", "-t", "3")
    assert result.output == "->  w1@test: OK\n    None\n"


def test_cli_usage_errors(app: Celery) -> None:
    result = _cli(app, "inspect", "no_such_command")
    assert result.exit_code == 2
    assert "Command no_such_command not recognized. Available inspect commands:" in (
        result.output)
    result = _cli(app, "control", "rate_limit", "a", "1/s", "extra")
    assert result.exit_code == 2 and "takes arguments: <task_name>" in result.output
    result = _cli(app, "inspect", "ctest_double", "notanumber")
    assert result.exit_code == 2 and "bad value 'notanumber' for n" in result.output
    result = _cli(app, "inspect")
    assert result.exit_code == 2 and "Missing argument 'COMMAND'" in result.output


def test_cli_no_reply_is_status_69(app: Celery, node: ControlNode) -> None:
    for argv in (("inspect", "ping"), ("control", "heartbeat"), ("status",)):
        result = _cli(app, *argv, "-d", "nobody@test", "-t", "0.3", "--json")
        assert result.exit_code == 69, result.output
        assert result.output.strip() == "Error: No nodes replied within time constraint"


def test_pretty_matches_celerys_layout() -> None:
    from celeriac.cli.control import pretty

    assert pretty({"ok": "pong"}) == ("OK", "    pong")
    assert pretty({"error": "bad"}) == ("ERROR", "    bad")
    assert pretty([]) == ("OK", "- empty -")
    assert pretty({"b": 1, "a": 2}) == ("OK", '{\n    "a": 2,\n    "b": 1\n}')
    assert pretty(None) == ("OK", "None")


def test_builtin_commands_have_celerys_names_and_meta() -> None:
    """Every command of Celery 5.7's ``Panel`` is here with Celery's type, signature,
    argument names, variadic and alias (what ``celery inspect/control`` rely on)."""
    from celery.worker.control import Panel

    not_here = {"revoke_by_stamped_headers"}  # stamping is not implemented
    pool_side = {"pool_grow", "pool_shrink", "pool_restart", "autoscale", "add_consumer",
                 "cancel_consumer"}  # handlers: worker/control/pool_commands.py
    for name, theirs in Panel.meta.items():
        if name in not_here or name.startswith("ctest_"):
            continue
        if name not in pool_side:
            assert name in COMMANDS, name
        ours = META[name] if name in META else CELERY_SHAPES[name]
        assert (ours.type, ours.visible, ours.signature, ours.variadic, ours.alias) == (
            theirs.type, theirs.visible, theirs.signature, theirs.variadic,
            theirs.alias), name
        assert [arg for arg, _ in ours.args or ()] == [arg for arg, _ in theirs.args or ()], name


def test_cli_terminate_signals_and_stores_the_revocation(app: Celery, node: ControlNode) -> None:
    import signal

    view = node.view
    assert isinstance(view, FakeWorker)
    result = _cli(app, "control", "terminate", "KILL", "t-7", "-d", "w1@test", "-t", "3")
    assert result.exit_code == 0, result.output
    assert result.output == "->  w1@test: OK\n        terminate: tasks unknown\n"
    assert ("terminate", ("t-7", signal.SIGKILL)) in view.calls
    late = RevokedRegistry(open_revocation_store(app.transport))  # a worker started later
    late.refresh()
    assert "t-7" in late
