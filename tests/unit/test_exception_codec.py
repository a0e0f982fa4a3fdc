"""encode_exception/decode_exception: Celery's JSON exception records and its safety rules."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from celeriac import exceptions as celeriac_exceptions
from celeriac.exceptions import DecodeError, SecurityError
from celeriac.protocol.exception_codec import decode_exception, encode_exception


class CustomError(Exception):
    pass


class Outer:
    class InnerError(Exception):
        pass


class NeedsKeyword(Exception):
    def __init__(self, *, code: int) -> None:
        super().__init__(code)


def test_builtin_exception_is_encoded_like_celery() -> None:
    assert encode_exception(KeyError("try-again")) == {
        "exc_type": "KeyError",
        "exc_message": ["try-again"],
        "exc_module": "builtins",
    }


def test_custom_exception_keeps_module_and_all_args() -> None:
    record = encode_exception(CustomError("custom", 42))
    assert record == {"exc_type": "CustomError", "exc_message": ["custom", 42],
                      "exc_module": __name__}  # fmt: skip


def test_unserializable_args_become_reprs() -> None:
    record = encode_exception(ValueError({1, 2}, dt.datetime(2024, 1, 1), object))
    assert record["exc_message"][0] == "{1, 2}"
    assert record["exc_message"][1] == dt.datetime(2024, 1, 1)  # JSON marker covers it
    assert record["exc_message"][2] == "<class 'object'>"
    json.dumps(record, default=str)


def test_nested_class_uses_its_qualname_and_round_trips() -> None:
    record = encode_exception(Outer.InnerError("x"))
    assert record["exc_type"] == "Outer.InnerError"
    exc = decode_exception(record)
    assert type(exc) is Outer.InnerError and exc.args == ("x",)


def test_known_classes_are_rebuilt_from_loaded_modules() -> None:
    exc = decode_exception({"exc_type": "ValueError", "exc_message": ["bad"],
                            "exc_module": "builtins"})  # fmt: skip
    assert type(exc) is ValueError and exc.args == ("bad",)


def test_string_message_is_a_single_argument() -> None:
    exc = decode_exception({"exc_type": "ValueError", "exc_message": "bad",
                            "exc_module": "builtins"})  # fmt: skip
    assert exc.args == ("bad",)


def test_unknown_module_synthesizes_a_class_in_celery_exceptions() -> None:
    record = {"exc_type": "TotallyCustomError", "exc_message": ["boom", 1],
              "exc_module": "not.imported.anywhere"}  # fmt: skip
    exc = decode_exception(record)
    assert type(exc).__name__ == "TotallyCustomError"
    assert type(exc).__module__ == "celery.exceptions"
    assert isinstance(exc, Exception) and exc.args == ("boom", 1)
    assert type(decode_exception(record)) is type(exc)


def test_modules_are_never_imported_on_demand() -> None:
    exc = decode_exception({"exc_type": "JSONDecodeError", "exc_message": [],
                            "exc_module": "celeriac_never_imported_module"})  # fmt: skip
    assert type(exc).__module__ == "celery.exceptions"


def test_missing_module_synthesizes_like_celery() -> None:
    exc = decode_exception({"exc_type": "Whatever", "exc_message": ["x"]})
    assert type(exc).__name__ == "Whatever"


@pytest.mark.parametrize(
    ("module", "name"),
    [("os", "system"), ("builtins", "eval"), ("builtins", "object"), ("json", "JSONDecoder")],
)
def test_non_exception_objects_are_a_security_error(module: str, name: str) -> None:
    with pytest.raises(SecurityError, match=f"{module}.{name} is not an exception class"):
        decode_exception({"exc_type": name, "exc_message": ["rm -rf /"], "exc_module": module})


@pytest.mark.parametrize(
    ("module", "name", "cls"),
    [
        ("celery.exceptions", "NotRegistered", celeriac_exceptions.NotRegistered),
        ("celery.exceptions", "TaskRevokedError", celeriac_exceptions.TaskRevokedError),
        ("celery.exceptions", "CeleryError", celeriac_exceptions.CeleriacError),
        ("billiard.exceptions", "TimeLimitExceeded", celeriac_exceptions.TimeLimitExceeded),
        ("billiard.exceptions", "WorkerLostError", celeriac_exceptions.WorkerLostError),
        ("kombu.exceptions", "ContentDisallowed", celeriac_exceptions.ContentDisallowed),
    ],
)
def test_celery_errors_map_to_celeriac_classes(module: str, name: str, cls: type) -> None:
    exc = decode_exception({"exc_type": name, "exc_message": ["x"], "exc_module": module})
    assert type(exc) is cls


def test_celeriac_errors_are_written_under_celerys_names() -> None:
    assert encode_exception(celeriac_exceptions.NotRegistered("no.such.task")) == {
        "exc_type": "NotRegistered",
        "exc_message": ["no.such.task"],
        "exc_module": "celery.exceptions",
    }
    assert encode_exception(celeriac_exceptions.TimeLimitExceeded(5.0))["exc_module"] == (
        "billiard.exceptions"
    )
    assert encode_exception(celeriac_exceptions.CeleriacError())["exc_type"] == "CeleryError"


def test_celerys_own_record_for_an_unknown_task_round_trips() -> None:
    exc = decode_exception({"exc_type": "NotRegistered", "exc_message": ["no.such.task"],
                            "exc_module": "celery.exceptions"})  # fmt: skip
    assert isinstance(exc, celeriac_exceptions.NotRegistered)
    assert str(exc) == "no.such.task"


def test_constructor_rejecting_the_args_falls_back_to_a_synthesized_class() -> None:
    record = encode_exception(NeedsKeyword(code=3))
    exc = decode_exception(record)
    assert type(exc).__name__ == "NeedsKeyword"
    assert type(exc) is not NeedsKeyword
    assert exc.args == (3,)


@pytest.mark.parametrize(
    "record",
    [None, [], {"exc_message": ["x"]}, {"exc_type": 5}, {"exc_type": "X", "exc_module": 5}],
)
def test_malformed_records_are_decode_errors(record: Any) -> None:
    with pytest.raises(DecodeError):
        decode_exception(record)


def test_real_celery_client_rebuilds_our_records() -> None:
    backends = pytest.importorskip("celery.backends.base")
    celery_exceptions = pytest.importorskip("celery.exceptions")
    backend = backends.Backend(app=pytest.importorskip("celery").Celery(set_as_current=False))
    rebuilt = backend.exception_to_python(
        encode_exception(celeriac_exceptions.NotRegistered("no.such.task"))
    )
    assert type(rebuilt) is celery_exceptions.NotRegistered
    ours = decode_exception(backend.prepare_exception(CustomError("custom", 42), "json"))
    assert type(ours) is CustomError and ours.args == ("custom", 42)
