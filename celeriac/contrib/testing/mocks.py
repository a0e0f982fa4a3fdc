"""Mocks for unit tests, as Celery's ``celery.contrib.testing.mocks``: task messages shaped
like a broker's (headers, body, content type), and ``ContextMock`` for ``with`` blocks."""

from __future__ import annotations

import numbers
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import Mock

from celeriac.serialization import registry


def TaskMessage(name: str, id: str | None = None, args: Sequence[Any] = (),
                kwargs: Mapping[str, Any] | None = None, callbacks: Sequence[Any] | None = None,
                errbacks: Sequence[Any] | None = None, chain: Sequence[Any] | None = None,
                shadow: str | None = None, utc: bool | None = None, **options: Any) -> Any:
    """A task message in protocol 2 format (a Mock with ``headers``, ``body``,
    ``content_type``, ``content_encoding`` and the decoded ``payload``)."""
    kwargs = dict(kwargs or {})
    id = id or str(uuid.uuid4())
    message = Mock(name=f"TaskMessage-{id}")
    message.headers = {"id": id, "task": name, "shadow": shadow}
    message.headers.update(options)
    embed = {"callbacks": callbacks, "errbacks": errbacks, "chain": chain}
    body = (args, kwargs, embed)
    message.content_type, message.content_encoding, message.body = registry.dumps(body, "json")
    message.payload = body
    return message


def TaskMessage1(name: str, id: str | None = None, args: Sequence[Any] = (),
                 kwargs: Mapping[str, Any] | None = None,
                 callbacks: Sequence[Any] | None = None,
                 errbacks: Sequence[Any] | None = None, **options: Any) -> Any:
    """A task message in protocol 1 format (everything in the body)."""
    message = Mock(name=f"TaskMessage-{id}")
    message.headers = {}
    message.payload = {"task": name, "id": id or str(uuid.uuid4()), "args": args,
                       "kwargs": dict(kwargs or {}), "callbacks": callbacks,
                       "errbacks": errbacks, **options}
    message.content_type, message.content_encoding, message.body = registry.dumps(
        message.payload, "json")
    return message


def task_message_from_sig(app: Any, sig: Any, utc: bool = True,
                          TaskMessage: Any = TaskMessage) -> Any:
    """A task message for a signature: its id frozen, links, countdown/eta and expires
    turned into headers as the client would send them."""
    sig.freeze()
    options = sig.options
    callbacks = options.pop("link", None)
    errbacks = options.pop("link_error", None)
    countdown = options.pop("countdown", None)
    now = datetime.now(UTC)
    eta = now + timedelta(seconds=countdown) if countdown else options.pop("eta", None)
    if isinstance(eta, datetime):
        eta = eta.isoformat()
    expires = options.pop("expires", None)
    if isinstance(expires, numbers.Real):
        expires = now + timedelta(seconds=float(expires))
    if isinstance(expires, datetime):
        expires = expires.isoformat()
    return TaskMessage(
        sig.task, id=sig.id, args=sig.args, kwargs=sig.kwargs,
        callbacks=[dict(s) for s in callbacks] if callbacks else None,
        errbacks=[dict(s) for s in errbacks] if errbacks else None,
        eta=eta, expires=expires, utc=utc, **options)


class _ContextMock(Mock):
    """A Mock whose class defines ``__enter__``/``__exit__`` (``with`` looks them up there)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        pass


def ContextMock(*args: Any, **kwargs: Any) -> Any:
    """A Mock usable as a context manager; ``with`` yields the mock itself."""
    obj: Any = _ContextMock(*args, **kwargs)
    obj.attach_mock(_ContextMock(), "__enter__")
    obj.attach_mock(_ContextMock(), "__exit__")
    obj.__enter__.return_value = obj
    obj.__exit__.return_value = None  # a true value would swallow the exception
    return obj
