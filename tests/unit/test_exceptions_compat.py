"""celeriac.exceptions against celery.exceptions: every public name, and the same bases.

Celery is installed in the test environment; these tests import it only to read its names.
"""

from __future__ import annotations

import pickle

import pytest

import celeriac.exceptions as ours

celery_exceptions = pytest.importorskip("celery.exceptions")

#: celeriac's base classes carry celeriac's names; Celery's names are aliases of them.
_SAME = {"CeleriacError": "CeleryError", "CeleriacWarning": "CeleryWarning"}
#: Celery's OperationalError is kombu's; celeriac has no kombu (documented in the module).
_KOMBU = {"OperationalError"}


def _mro_names(cls: type) -> list[str]:
    return [_SAME.get(base.__name__, base.__name__) for base in cls.__mro__]


def _celery_names() -> list[str]:
    return [str(name) for name in celery_exceptions.__all__]


@pytest.mark.parametrize("name", _celery_names())
def test_every_celery_exception_name_exists_with_the_same_bases(name: str) -> None:
    theirs = getattr(celery_exceptions, name)
    mine = getattr(ours, name)
    if not isinstance(theirs, type):
        assert callable(mine)
        return
    assert isinstance(mine, type)
    if name in _KOMBU:
        assert issubclass(mine, ours.CeleryError)
        return
    assert _mro_names(mine) == _mro_names(theirs)


@pytest.mark.parametrize("name", ["RetryTaskError", "SystemTerminate"])
def test_celery_compat_aliases(name: str) -> None:
    assert _mro_names(getattr(ours, name)) == _mro_names(getattr(celery_exceptions, name))


def test_all_lists_every_celery_name() -> None:
    assert set(_celery_names()) <= set(ours.__all__)


def test_keyerror_subclasses_are_caught_as_task_errors_and_key_errors() -> None:
    for cls in (ours.NotRegistered, ours.QueueNotFound):
        with pytest.raises(KeyError):
            raise cls("x")
        with pytest.raises(ours.TaskError):
            raise cls("x")


def test_worker_shutdown_is_a_system_exit() -> None:
    assert issubclass(ours.WorkerShutdown, SystemExit)
    assert issubclass(ours.WorkerTerminate, SystemExit)


def test_backend_errors_keep_their_task_id_like_celery() -> None:
    for cls in ("BackendGetMetaError", "BackendStoreError"):
        mine = getattr(ours, cls)("boom", task_id="t1", state="FAILURE")
        theirs = getattr(celery_exceptions, cls)("boom", task_id="t1", state="FAILURE")
        assert repr(mine) == repr(theirs)
        assert mine.task_id == "t1"


def test_reraise_keeps_the_value_and_sets_the_traceback() -> None:
    try:
        raise ValueError("first")
    except ValueError as exc:
        error, tb = exc, exc.__traceback__
    with pytest.raises(ValueError, match="first") as info:
        ours.reraise(ValueError, error, tb)
    assert info.value is error


def test_command_exception_is_a_click_exception_with_an_exit_code() -> None:
    import click

    exc = ours.CeleryCommandException("bad", exit_code=3)
    assert isinstance(exc, click.ClickException)
    assert exc.exit_code == 3
    assert ours.CeleryCommandException is ours.CeleryCommandException


def test_new_task_errors_pickle() -> None:
    for cls in (ours.IncompleteStream, ours.InvalidTaskError, ours.AlreadyRegistered,
                ours.Terminated, ours.TimeoutError):
        value = pickle.loads(pickle.dumps(cls("why")))
        assert type(value) is cls and value.args == ("why",)
