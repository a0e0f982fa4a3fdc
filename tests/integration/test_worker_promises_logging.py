"""Issue 5, "Logging": ``-l`` levels, ``-f`` file (no colour codes), ``worker_log_format`` and
``worker_task_log_format`` (task name and id in every task line), ``print()`` inside tasks
landing in the log (``worker_redirect_stdouts`` / ``_level``), colour on a terminal, a user's
``logging.config.dictConfig`` left intact with ``worker_hijack_root_logger=False``, and the
``after_setup_logger`` / ``after_setup_task_logger`` signals.
"""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.helpers import CELERIAC, wait_until
from tests.integration import promises_fixtures
from tests.integration.promises_fixtures import ProjectFactory, wait_ready

pytestmark = pytest.mark.slow

# The shared fixtures, bound here so pytest finds them.
broker = promises_fixtures.broker
make_project = promises_fixtures.make_project

TASKS = """
from celeriac import signals
from celeriac.utils.log import get_task_logger

logger = get_task_logger(__name__)


@app.task
def chatty(tag):
    logger.debug("%s debug line", tag)
    logger.info("%s info line", tag)
    logger.warning("%s warning line", tag)
    logger.error("%s error line", tag)
    return tag


@app.task
def printer(tag):
    print(f"{tag} printed line")
    return tag


@app.task
def user_logging(tag):
    logging.getLogger("myapp").warning("%s via myapp", tag)
    logging.getLogger("elsewhere").warning("%s via root", tag)
    return tag


@signals.after_setup_logger.connect
def _after_setup_logger(sender=None, logger=None, loglevel=None, **kw):
    note("after_setup_logger", getattr(logger, "name", logger), loglevel)


@signals.after_setup_task_logger.connect
def _after_setup_task_logger(sender=None, logger=None, loglevel=None, **kw):
    note("after_setup_task_logger", getattr(logger, "name", logger), loglevel)
"""

FORMATS = """
app.conf.worker_log_format = "WLOG %(levelname)s %(message)s"
app.conf.worker_task_log_format = "TLOG %(levelname)s %(task_name)s[%(task_id)s] %(message)s"
"""


def lines_with(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("level", "shown", "hidden"),
    [
        ("info", ["info", "warning", "error"], ["debug"]),
        ("error", ["error"], ["debug", "info", "warning"]),
    ],
)
def test_loglevel_decides_which_task_lines_are_logged(
    make_project: ProjectFactory, level: str, shown: list[str], hidden: list[str]
) -> None:
    project = make_project(TASKS)
    with project.worker("-P", "solo", "-l", level) as worker:
        result = project.module.chatty.delay("lvl")
        result.get(timeout=30)
        wait_until(lambda: "lvl error line" in worker.log(), 10, message="the error line")
        log = worker.log()
    for name in shown:
        assert lines_with(log, f"lvl {name} line"), f"-l {level} should show {name}:\n{log}"
    for name in hidden:
        assert not lines_with(log, f"lvl {name} line"), f"-l {level} should hide {name}"


def test_logfile_with_worker_formats_names_the_task_in_every_task_line(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    project = make_project(TASKS, conf=FORMATS)
    logfile = tmp_path / "worker-file.log"
    with project.worker("-P", "threads", "-c", "2", "-l", "info", "-f", str(logfile)):
        chatty = project.module.chatty.delay("fmt")
        printer = project.module.printer.delay("fmt")
        chatty.get(timeout=30)
        printer.get(timeout=30)
        wait_until(
            lambda: logfile.exists() and "fmt printed line" in logfile.read_text(),
            10,
            message="the printed line in the log file",
        )
    text = logfile.read_text()
    task_lines = lines_with(text, "fmt ")
    task_lines = [line for line in task_lines if " line" in line and "printed" not in line]
    assert len(task_lines) == 3, text  # info, warning, error; not debug
    name = f"{project.name}.chatty"
    for line in task_lines:
        assert line.startswith("TLOG ") and f"{name}[{chatty.id}]" in line, line
    assert any(line.startswith("WLOG ") and " ready." in line for line in text.splitlines())
    assert lines_with(text, "fmt printed line"), "print() inside a task must reach the log"
    assert "\x1b[" not in text, "no colour codes in a log file"


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_print_lands_in_the_log_at_the_redirect_level(make_project: ProjectFactory) -> None:
    project = make_project(TASKS, conf='app.conf.worker_redirect_stdouts_level = "ERROR"\n')
    with project.worker("-P", "prefork", "-c", "1", "-l", "info") as worker:
        project.module.printer.delay("redir").get(timeout=30)
        wait_until(lambda: "redir printed line" in worker.log(), 10, message="the printed line")
        (line,) = lines_with(worker.log(), "redir printed line")
    assert "ERROR" in line, line


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_colour_on_a_terminal(make_project: ProjectFactory, tmp_path: Path) -> None:
    project = make_project(TASKS)
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [CELERIAC, "-A", project.name, "worker", "-P", "solo", "-l", "info"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    os.close(slave)
    chunks: list[bytes] = []

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        project.module.chatty.delay("tty").get(timeout=30)
        wait_until(
            lambda: b"tty warning line" in b"".join(chunks),
            10,
            message="the warning line on the terminal",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        reader.join(5)
        os.close(master)
    output = b"".join(chunks).decode(errors="replace")
    (warning,) = lines_with(output, "tty warning line")
    assert "\x1b[" in warning, f"a warning on a terminal should be coloured: {warning!r}"


DICT_CONFIG = """
import logging.config

if "worker" in sys.argv:  # configure the worker process only, never the test runner
    logging.config.dictConfig({
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"user": {"format": "USER|%(name)s|%(levelname)s|%(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler",
                              "filename": os.path.join(HERE, "user.log"),
                              "formatter": "user"}},
        "loggers": {"myapp": {"handlers": ["file"], "level": "INFO", "propagate": False}},
        "root": {"handlers": ["file"], "level": "WARNING"},
    })
"""


def test_users_dict_config_is_left_intact_without_hijack(
    make_project: ProjectFactory, tmp_path: Path
) -> None:
    project = make_project(
        TASKS, conf="app.conf.worker_hijack_root_logger = False\n", preamble=DICT_CONFIG
    )
    user_log = tmp_path / "user.log"
    with project.worker("-P", "threads", "-c", "2", "-l", "info") as worker:
        project.module.user_logging.delay("dc").get(timeout=30)
        wait_until(
            lambda: user_log.exists() and "dc via root" in user_log.read_text(),
            10,
            message="the user's root handler to receive the task's line",
        )
        wait_ready(worker)
    text = user_log.read_text()
    assert "USER|myapp|WARNING|dc via myapp" in text
    assert "USER|elsewhere|WARNING|dc via root" in text
    assert " ready." in worker.log(), "celeriac's own lines still reach the worker's output"


@pytest.mark.parametrize("broker", ["sqlite"], indirect=True)
def test_after_setup_logger_signals_fire_once_logging_is_set_up(
    make_project: ProjectFactory,
) -> None:
    project = make_project(TASKS)
    with project.worker("-P", "solo", "-l", "info"):
        project.module.chatty.delay("sig").get(timeout=30)
    kinds = [line.split()[0] for line in project.events()]
    assert kinds.count("after_setup_logger") == 1, project.events()
    assert kinds.count("after_setup_task_logger") == 1, project.events()
