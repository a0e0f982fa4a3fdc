"""Deciding what to do with each leased message, before any task code runs.

In order: parse (protocol v1 is normalized to v2), check the content type against
``accept_content``, look up the task, drop expired ones (recording REVOKED), send ETA tasks
back to wait on the broker (or hold them), and otherwise build a ``Request``. Anything that
must not run is set aside with its reason and logged; nothing is silently dropped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celeriac import states
from celeriac.exceptions import ContentDisallowed, InvalidMessage, NotRegistered, TaskRevokedError
from celeriac.execution.request import Request
from celeriac.protocol.exception_codec import encode_exception
from celeriac.protocol.result_meta import ResultMeta, now_iso
from celeriac.protocol.task_message import decode_body, normalize_v1, parse_iso_timestamp
from celeriac.transport.base import Delivery
from celeriac.utils.log import log_received
from celeriac.worker.revoked_stamps import revoked_by_stamp as revoked_by_stamp

if TYPE_CHECKING:
    from celeriac.app.base import Celery
    from celeriac.worker.events import WorkerEvents

logger = logging.getLogger(__name__)

#: ETAs closer than this run from the worker's own timer instead of a broker round trip.
DEFER_THRESHOLD = 1.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The dispatcher's verdict on one delivery; exactly one of the fields is meaningful."""

    request: Request | None = None
    set_aside: str | None = None
    revoked_meta: ResultMeta | None = None
    defer_until: float | None = None
    hold_until: float | None = None
    #: Why a set-aside message was refused, for ``task_rejected``/``task_unknown`` receivers.
    error: Exception | None = None


class Dispatcher:
    """Turns deliveries into decisions. Stateless apart from per-task caches."""

    def __init__(self, app: Celery, hostname: str, accept: frozenset[str],
                 can_defer: bool, acks_late_for: Callable[[str], bool],
                 revoked: Container[str] = frozenset()) -> None:
        self.app = app
        self.revoked = revoked
        self.hostname = hostname
        self.accept = accept
        self.can_defer = can_defer
        self.acks_late_for = acks_late_for
        #: The worker's events (``Worker.setup`` sets them); the consumer uses them too.
        self.events: WorkerEvents | None = None

    def decide(self, delivery: Delivery) -> Decision:
        """The verdict on one delivery; never raises.

        Whatever goes wrong while reading one message (a date that does not parse, a body
        nested too deeply for the JSON parser, a bug) sets that message aside with the
        reason: an exception escaping here would strand the rest of its fetched batch.
        """
        try:
            message = normalize_v1(delivery.message, self.accept)
            if message is not delivery.message:
                delivery = Delivery(message, delivery.queue, delivery.tag, delivery.redelivered)
            headers = message.headers
            name = headers.get("task")
            task_id = headers.get("id")
            if not isinstance(name, str) or not isinstance(task_id, str):
                raise InvalidMessage("headers lack a 'task' name or an 'id'")
            if name not in self.app.tasks:
                return self._unknown(name, task_id)
            body = decode_body(message, self.accept)
            if (refused := self._revoked(task_id, name, headers)) is not None:
                return refused
            now = time.time()
            expires = parse_iso_timestamp(headers.get("expires"))
            if expires is not None and expires <= now:
                return Decision(revoked_meta=self._expired(task_id, name, headers))
            eta = parse_iso_timestamp(headers.get("eta"))
            if eta is not None and eta - now > DEFER_THRESHOLD and self.can_defer:
                return Decision(defer_until=eta)
            request = Request(delivery, name, task_id, body, self.hostname,
                              self.acks_late_for(name))
        except ContentDisallowed as exc:
            return Decision(set_aside=f"refused content: {exc}", error=exc)
        except InvalidMessage as exc:
            return Decision(set_aside=f"invalid message: {exc}", error=exc)
        except RecursionError as exc:
            return Decision(set_aside="invalid message: nested too deeply to decode", error=exc)
        except Exception as exc:
            logger.debug("Deciding about message %s failed", delivery.tag, exc_info=True)
            return Decision(set_aside=f"could not be read: {type(exc).__name__}: {exc}"[:500],
                            error=exc)
        self._received(request)
        if eta is not None and eta > now:
            return Decision(request=request, hold_until=eta)
        return Decision(request=request)

    def _received(self, request: Request) -> None:
        """Celery's ``Task name[id] received`` log line, and ``task-received`` with task events
        on (Celery: once the request is accepted)."""
        log_received(request)
        if (events := self.events) is not None and events.tasks:
            events.task_received(request)

    def _revoked(self, task_id: str, name: str, headers: dict[str, Any]) -> Decision | None:
        """REVOKED when the id was revoked, or one of its stamps (Celery's log lines)."""
        if task_id in self.revoked:
            logger.warning("Discarding revoked task: %s[%s]", name, task_id)
        elif (stamp := revoked_by_stamp(self.revoked, headers)) is not None:
            logger.warning("Discarding revoked task: %s[%s] (revoked by header: %s)",
                           name, task_id, stamp)
        else:
            return None
        return Decision(revoked_meta=revoked_meta(task_id, "revoked"))

    def _unknown(self, name: str, task_id: str) -> Decision:
        reason = self.app.tasks.describe_unknown(name)
        meta = ResultMeta(task_id, states.FAILURE, encode_exception(NotRegistered(name)),
                          date_done=now_iso(), children=[])
        return Decision(set_aside=f"unknown task: {reason}", revoked_meta=meta,
                        error=NotRegistered(name))

    def _expired(self, task_id: str, name: str, headers: dict[str, Any]) -> ResultMeta:
        logger.warning("Task %s[%s] expired at %s: not run, marked REVOKED", name, task_id,
                       headers.get("expires"))
        return revoked_meta(task_id, "expired")


def revoked_meta(task_id: str, why: str) -> ResultMeta:
    """The REVOKED record Celery stores: ``["revoked"]``, ``["expired"]`` or ``["terminated"]``."""
    return ResultMeta(task_id, states.REVOKED, encode_exception(TaskRevokedError(why)),
                      date_done=now_iso(), children=None)
