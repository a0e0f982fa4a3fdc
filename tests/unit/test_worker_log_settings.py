"""worker_log_color, worker_log_datefmt and worker_task_log_datefmt shape the worker's log."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.utils.log import TASK_LOGGER_NAME, log_style, setup_logging


@pytest.fixture
def celeriac_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("celeriac")
    handlers, level = list(logger.handlers), logger.level
    yield logger
    for handler in logger.handlers:
        if handler not in handlers:
            logger.removeHandler(handler)
            handler.close()
            if isinstance(handler, logging.StreamHandler):
                handler.stream.close()  # setup_logging opened the log file
    logger.setLevel(level)


def test_log_settings_reach_the_formatter(tmp_path: Path,
                                          celeriac_logger: logging.Logger) -> None:
    conf = Celery("logs", broker="memory://", worker_log_color=True,
                  worker_log_datefmt="DATE<%Y>", worker_task_log_datefmt="TASKDATE<%Y>",
                  worker_log_format="%(asctime)s %(message)s",
                  worker_task_log_format="%(asctime)s %(task_id)s %(message)s").conf
    logfile = tmp_path / "worker.log"
    setup_logging("INFO", str(logfile), conf.worker_log_format, conf.worker_task_log_format,
                  hijack_root=False, **log_style(conf))
    celeriac_logger.warning("plain")
    task_record = logging.LogRecord(TASK_LOGGER_NAME, logging.WARNING, __file__, 1, "in task",
                                    None, None)
    task_record.is_task_record = True
    task_record.task_id = "abc"
    celeriac_logger.handle(task_record)
    text = logfile.read_text()
    assert "DATE<" in text and "TASKDATE<" in text and " abc in task" in text
    assert "\033[" in text  # colour forced on although the log is a file


def test_colour_defaults_to_off_for_a_file(tmp_path: Path,
                                           celeriac_logger: logging.Logger) -> None:
    logfile = tmp_path / "worker.log"
    conf = Celery("logs", broker="memory://").conf
    setup_logging("INFO", str(logfile), conf.worker_log_format, conf.worker_task_log_format,
                  hijack_root=False, **log_style(conf))
    celeriac_logger.warning("plain")
    assert "\033[" not in logfile.read_text()
