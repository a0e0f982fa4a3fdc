"""Nothing accepted and then ignored: every declared setting is read somewhere or says why not.

The meta-test parses every module of ``celeriac/`` (the table in ``celeriac/config/schema/``
declares names, it does not read them) and collects the ways code reads a setting:
``conf.NAME`` (any attribute named like the setting), ``conf["NAME"]``, ``conf.get("NAME")``
and ``"NAME"`` as a key of an options map (any string constant equal to the name). Comments
and docstrings do not count. A setting found nowhere must carry ``unsupported="reason"`` in
the table, so that setting it logs that reason instead of doing nothing silently.
"""

from __future__ import annotations

import ast
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from celeriac import Celery
from celeriac.config import settings as settings_module
from celeriac.config.schema import OLD_TO_NEW, OPTIONS
from celeriac.config.settings import Settings

PACKAGE = Path(__file__).resolve().parents[2] / "celeriac"
SCHEMA = PACKAGE / "config" / "schema"


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the constant nodes that are docstrings or bare string statements (comments)."""
    found: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list):
            for stmt in body:
                if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
                    found.add(id(stmt.value))
    return found


def _names_read(path: Path) -> Iterator[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            yield node.attr
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
              and id(node) not in skip):
            yield node.value


def _read_anywhere() -> dict[str, list[str]]:
    """Setting name -> the modules of ``celeriac/`` (outside the table) that read it."""
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if SCHEMA in path.parents:
            continue
        for name in set(_names_read(path)):
            if name in OPTIONS:
                where.setdefault(name, []).append(str(path.relative_to(PACKAGE.parent)))
    return where


READ = _read_anywhere()


def test_every_declared_setting_is_read_or_marked_unsupported() -> None:
    ignored = sorted(
        name for name, option in OPTIONS.items()
        if option.supported and name not in READ
    )
    assert not ignored, (
        "declared, never read by celeriac/ and not marked unsupported (act on each, or give it "
        f"unsupported='reason' in celeriac/config/schema/): {ignored}"
    )


def test_no_setting_is_both_read_and_marked_unsupported() -> None:
    stale = {name: READ[name] for name, option in OPTIONS.items()
             if not option.supported and name in READ}
    assert not stale, f"marked unsupported but read (drop the mark, or the reading): {stale}"


def test_every_unsupported_reason_is_a_sentence_worth_logging() -> None:
    for option in OPTIONS.values():
        if not option.supported:
            assert len(option.unsupported) > 10, option.name


def test_the_scan_sees_reads_and_ignores_docstrings(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Mentions result_extended."""\n'
                      "def f(conf):\n"
                      '    """task_annotations, only in a docstring."""\n'
                      "    return conf.result_serializer, conf['result_compression']\n")
    assert {"result_serializer", "result_compression"} <= set(_names_read(module))
    assert not {"result_extended", "task_annotations"} & set(_names_read(module))


# -- the warning --------------------------------------------------------------------------------

UNSUPPORTED = "result_chord_join_timeout"
OLD_NAME = next(old for old, new in OLD_TO_NEW.items() if new == UNSUPPORTED)


@pytest.fixture(autouse=True)
def _fresh_process_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings_module, "_reported_unsupported", set())


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "celeriac.config.settings" and record.levelno == logging.WARNING]


class _Config:
    result_chord_join_timeout = 10.0


@pytest.mark.parametrize("how", ["update", "attribute", "item", "old_name", "constructor_kwarg",
                                 "config_from_object", "config_from_mapping_old_name",
                                 "settings_kwargs"])
def test_setting_an_unsupported_option_logs_why_on_every_path(
        how: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.settings")
    if how == "update":
        Celery("t", broker="memory://").conf.update({UNSUPPORTED: 10.0})
    elif how == "attribute":
        Celery("t", broker="memory://").conf.result_chord_join_timeout = 10.0
    elif how == "item":
        Celery("t", broker="memory://").conf[UNSUPPORTED] = 10.0
    elif how == "old_name":
        Celery("t", broker="memory://").conf[OLD_NAME] = 10.0
    elif how == "constructor_kwarg":
        Celery("t", broker="memory://", result_chord_join_timeout=10.0)
    elif how == "config_from_object":
        Celery("t", broker="memory://").config_from_object(_Config)
    elif how == "config_from_mapping_old_name":
        Celery("t", broker="memory://").config_from_object({OLD_NAME: 10.0})
    else:
        Settings(result_chord_join_timeout=10.0)
    [message] = _warnings(caplog)
    assert UNSUPPORTED in message
    assert OPTIONS[UNSUPPORTED].unsupported in message


def test_the_warning_is_logged_once_per_name_per_process(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.settings")
    for value in (10.0, 20.0):
        Settings({UNSUPPORTED: value, "security_certificate": f"cert{value}.pem"})
        Celery("t", broker="memory://", result_chord_join_timeout=value)
    messages = _warnings(caplog)
    assert len(messages) == 2
    assert sum(UNSUPPORTED in message for message in messages) == 1
    assert sum("security_certificate" in message for message in messages) == 1


def test_the_default_value_or_none_changes_nothing_and_logs_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.settings")
    Settings({UNSUPPORTED: OPTIONS[UNSUPPORTED].default, "event_serializer": None})
    Settings({name: option.default for name, option in OPTIONS.items()})
    assert _warnings(caplog) == []


def test_supported_settings_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.settings")
    Settings(result_serializer="msgpack", task_acks_late=True)
    assert _warnings(caplog) == []
