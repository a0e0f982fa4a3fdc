"""Remote-control commands about events: ``heartbeat``, ``enable_events``, ``disable_events``
and ``election``, with Celery's names, arguments and replies.

The worker's event sending sits behind two ``WorkerView`` methods (``send_heartbeat``,
``set_task_events``); a worker that sends no events says so (``event dispatcher
unavailable``, Celery's words) instead of pretending.

``election`` is Celery's gossip consensus (``celeriac.worker.gossip``): the workers exchange
``worker-elect`` events and the winner runs the action. Celery's handler answers nothing
(``None``), and so does this one once the worker has sent its ``worker-elect``. A worker
without gossip (``--without-gossip``, ``--without-heartbeat``) takes no part; Celery's stays
silent, this one logs it and answers an error, for a client that asks for replies.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celeriac.worker.control.registry import command

if TYPE_CHECKING:
    from celeriac.worker.control.node import ControlNode

logger = logging.getLogger(__name__)

UNAVAILABLE = "event dispatcher unavailable"
NO_GOSSIP = "election: this worker takes no part in gossip"


@command("heartbeat", help="Tell worker(s) to send event heartbeat immediately.")
def heartbeat(node: ControlNode, arguments: dict[str, Any]) -> Any:
    """Celery answers ``None`` once the heartbeat is sent; an error when it cannot be."""
    logger.debug("Heartbeat requested by remote.")
    if not node.view.send_heartbeat():
        return {"error": UNAVAILABLE}
    return None


def _task_events(node: ControlNode, enabled: bool) -> dict[str, str]:
    changed = node.view.set_task_events(enabled)
    word = "enabled" if enabled else "disabled"
    if changed is None:
        return {"error": UNAVAILABLE}
    if not changed:
        return {"ok": f"task events already {word}"}
    logger.info("Events of group {task} %s by remote.", word)
    return {"ok": f"task events {word}"}


@command("enable_events", help="Tell worker(s) to send task-related events.")
def enable_events(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return _task_events(node, True)


@command("disable_events", help="Tell worker(s) to stop sending task-related events.")
def disable_events(node: ControlNode, arguments: dict[str, Any]) -> Any:
    return _task_events(node, False)


@command("election", help="Hold election.")
def election(node: ControlNode, arguments: dict[str, Any]) -> Any:
    id_, topic = arguments.get("id"), arguments.get("topic")
    if not node.view.election(str(id_), str(topic), arguments.get("action")):
        logger.info("Remote control: election %r (topic %r) ignored: %s", id_, topic, NO_GOSSIP)
        return {"error": NO_GOSSIP}
    return None


__all__ = ["NO_GOSSIP", "UNAVAILABLE", "disable_events", "election", "enable_events",
           "heartbeat"]
