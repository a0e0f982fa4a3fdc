"""Worker bootsteps as Celery documents them for users: ``Step``, ``StartStopStep``,
``ConsumerStep``, registered with ``app.steps['worker'].add(...)`` and
``app.steps['consumer'].add(...)``.

celeriac's worker is not itself built from bootsteps, so user steps run *around* it: worker
steps are created with the worker (``parent`` is the worker: ``app``, ``hostname``,
``pool``...), started once it is set up, stopped at shutdown; consumer steps get a parent
with ``app``, ``hostname``, ``controller`` (the worker) and ``connection``. ``requires``
naming Celery's own steps (``celery.worker.components:Pool``...) is always met; among user
steps it orders start-up.

``ConsumerStep.get_consumers(channel)`` returns consumers of queues on the worker's broker.
``channel`` is a celeriac channel, so build them with this module's kombu-shaped
``Consumer(channel, queues=[...], callbacks=[fn], accept=['json'])``; ``fn(body, message)``
then ``message.ack()``, as with kombu.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from celeriac.serialization.compression import decompress
from celeriac.serialization.registry import loads, normalize_accept
from celeriac.transport.base import Channel, Delivery, Transport

logger = logging.getLogger(__name__)

#: How often a step consumer renews its leases (the worker's own channel has a thread for it).
LEASE_RENEW_SECONDS = 2.0


class StepType(type):
    """Names a step ``module.Class`` unless it sets ``name`` (Celery's metaclass)."""

    name: str | None = None

    def __new__(mcs, name: str, bases: tuple[type, ...], attrs: dict[str, Any]) -> StepType:
        module = attrs.get("__module__")
        qname = f"{module}.{name}" if module else name
        attrs.update(__qualname__=qname, name=attrs.get("name") or qname)
        return super().__new__(mcs, name, bases, attrs)

    def __str__(cls) -> str:
        return str(cls.name)

    def __repr__(cls) -> str:
        return f"step:{cls.name}{{{getattr(cls, 'requires', ())!r}}}"


class Step(metaclass=StepType):
    """A bootstep; ``__init__`` runs when it is bound to its parent (worker or consumer)."""

    name: ClassVar[str | None] = None
    label: str | None = None
    conditional = False
    requires: Iterable[Any] = ()
    last = False
    enabled = True

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        pass

    def include_if(self, parent: Any) -> bool:
        return self.enabled

    def _should_include(self, parent: Any) -> tuple[bool, Any]:
        if self.include_if(parent):
            return True, self.create(parent)
        return False, None

    def include(self, parent: Any) -> bool:
        return self._should_include(parent)[0]

    def create(self, parent: Any) -> Any:
        """Create the step's service object (``StartStopStep`` starts and stops it)."""
        return None

    def __repr__(self) -> str:
        return f"<step: {self.alias}>"

    @property
    def alias(self) -> str:
        return self.label or str(type(self).name).rsplit(".", 1)[-1]

    def info(self, obj: Any) -> Any:
        return None


class StartStopStep(Step):
    """A step started and stopped in order; ``create``'s object is ``obj``."""

    obj: Any = None

    def start(self, parent: Any) -> Any:
        return self.obj.start() if self.obj else None

    def stop(self, parent: Any) -> Any:
        return self.obj.stop() if self.obj else None

    def close(self, parent: Any) -> None:
        return None

    def shutdown(self, parent: Any) -> Any:
        return self.stop(parent)

    def terminate(self, parent: Any) -> Any:
        return getattr(self.obj, "terminate", self.obj.stop)() if self.obj else None

    def include(self, parent: Any) -> bool:
        included, self.obj = self._should_include(parent)
        return included


class ConsumerStep(StartStopStep):
    """A step that consumes queues of its own on the worker's broker."""

    requires: Iterable[Any] = ("celery.worker.consumer:Connection",)
    consumers: list[Any] | None = None

    def get_consumers(self, channel: Channel) -> Sequence[Any]:
        raise NotImplementedError("missing get_consumers")

    def start(self, c: Any) -> None:
        channel = c.connection.channel()
        self.consumers = list(self.get_consumers(channel) or [])
        for consumer in self.consumers:
            consumer.consume()

    def stop(self, c: Any) -> None:
        self._close(cancel_consumers=True)

    def shutdown(self, c: Any) -> None:
        self._close(cancel_consumers=False)

    def _close(self, cancel_consumers: bool = True) -> None:
        channels: list[Channel] = []
        for consumer in self.consumers or []:
            consumer.cancel()  # the fetch loop must end before its channel closes
            if consumer.channel is not None and consumer.channel not in channels:
                channels.append(consumer.channel)
        for channel in channels:
            try:
                channel.close()
            except Exception:
                logger.debug("closing a step consumer's channel failed", exc_info=True)


class Message:
    """A delivered message as kombu's ``Message`` presents it to callbacks."""

    def __init__(self, channel: Channel, delivery: Delivery, accept: frozenset[str]) -> None:
        self.channel = channel
        self.delivery = delivery
        self.headers = delivery.message.headers
        self.properties = delivery.message.properties
        self.content_type = delivery.message.content_type
        self.content_encoding = delivery.message.content_encoding
        self.body = delivery.message.body
        self.delivery_info = {"routing_key": delivery.queue, "redelivered": delivery.redelivered}
        self.delivery_tag = delivery.tag
        self.acknowledged = False
        self._accept = accept

    def decode(self) -> Any:
        """The body, decompressed (``compression`` header) and deserialized;
        ``ContentDisallowed`` for a content type not accepted."""
        body = self.body
        if self.headers.get("compression"):
            body = decompress(body, str(self.headers["compression"]))
        return loads(body, self.content_type, self.content_encoding, self._accept)

    @property
    def payload(self) -> Any:
        return self.decode()

    def ack(self) -> None:
        self.channel.ack([self.delivery])
        self.acknowledged = True

    def reject(self, requeue: bool = False) -> None:
        self.channel.reject([self.delivery], requeue=requeue)
        self.acknowledged = True

    def requeue(self) -> None:
        self.reject(requeue=True)


Callback = Callable[[Any, Message], Any]


class Consumer:
    """Consumes ``queues`` on a celeriac ``channel`` in a thread (kombu's ``Consumer`` shape).

    ``queues`` are names or objects with ``.name`` (``kombu.Queue`` works); each message goes
    to ``on_message(message)`` if given, else to every ``callbacks`` entry as
    ``(body, message)``. ``accept`` defaults to JSON only (celeriac never unpickles unless
    asked). A callback that raises is logged and its message rejected without requeue (or it
    would come back forever); a message left unacknowledged is handed back at shutdown.
    """

    def __init__(self, channel: Channel, queues: Iterable[Any] | None = None,
                 no_ack: bool | None = None, auto_declare: bool = True,
                 callbacks: Sequence[Callback] | None = None, on_message: Any = None,
                 accept: Iterable[str] | None = None, prefetch_count: int | None = None,
                 tag_prefix: str | None = None) -> None:
        self.channel: Channel | None = channel
        self.queues = [str(getattr(queue, "name", queue)) for queue in queues or ()]
        self.no_ack = bool(no_ack)
        self.callbacks = list(callbacks or [])
        self.on_message = on_message
        self.accept = normalize_accept(accept or ["json"])
        self.prefetch_count = prefetch_count or 10
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if auto_declare:
            self.declare()

    def declare(self) -> None:
        if self.channel is not None and self.queues:
            self.channel.declare(self.queues)

    def register_callback(self, callback: Callback) -> None:
        self.callbacks.append(callback)

    def add_queue(self, queue: Any) -> None:
        self.queues.append(str(getattr(queue, "name", queue)))

    def consume(self, no_ack: bool | None = None) -> None:
        if no_ack is not None:
            self.no_ack = no_ack
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"celeriac-step-{'-'.join(self.queues)}")
            self._thread.start()

    def cancel(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        channel = self.channel
        assert channel is not None
        renewed = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() - renewed > LEASE_RENEW_SECONDS:
                    channel.heartbeat()
                    renewed = time.monotonic()
                deliveries = channel.fetch(self.queues, self.prefetch_count, 1.0)
            except Exception:
                logger.warning("step consumer of %s: fetch failed", self.queues, exc_info=True)
                self._stop.wait(1.0)
                continue
            for delivery in deliveries:
                if self._stop.is_set():  # not started: hand it back now
                    channel.reject([delivery], requeue=True)
                    continue
                self._deliver(channel, delivery)

    def _deliver(self, channel: Channel, delivery: Delivery) -> None:
        message = Message(channel, delivery, self.accept)
        try:
            if self.no_ack:
                message.ack()
            if self.on_message is not None:
                self.on_message(message)
            else:
                body = message.decode()
                for callback in self.callbacks:
                    callback(body, message)
        except Exception:
            logger.exception("step consumer of %s: message %s failed", self.queues,
                             delivery.tag)
            if not message.acknowledged:
                message.reject(requeue=False)


class ChannelSource:
    """``parent.connection`` of consumer steps: opens channels on the worker's broker."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def channel(self) -> Channel:
        return self.transport.channel()

    @property
    def default_channel(self) -> Channel:
        return self.transport.channel()


def ordered(steps: Iterable[type[Step]]) -> list[type[Step]]:
    """``steps`` with each after the user steps it ``requires`` (Celery's own steps, named
    in ``requires`` as strings, have always started before any user step)."""
    pending = sorted(steps, key=lambda step: str(step.name))
    by_name = {str(step.name): step for step in pending}
    done: list[type[Step]] = []

    def visit(step: type[Step], path: tuple[str, ...]) -> None:
        if step in done:
            return
        if str(step.name) in path:
            raise ValueError(f"bootsteps require each other in a cycle: {path}")
        for required in step.requires:
            name = required if isinstance(required, str) else str(getattr(required, "name", ""))
            dependency = by_name.get(name.replace(":", "."))
            if dependency is not None:
                visit(dependency, (*path, str(step.name)))
        done.append(step)

    for step in pending:
        visit(step, ())
    return done


class Blueprint:
    """Builds, starts and stops a group of user steps for one parent."""

    def __init__(self, steps: Iterable[type[Step]] | None = None, name: str | None = None,
                 on_start: Callable[[], None] | None = None,
                 on_close: Callable[[], None] | None = None,
                 on_stopped: Callable[[], None] | None = None) -> None:
        self.types = ordered(steps or ())
        self.name = name
        self.on_start, self.on_close, self.on_stopped = on_start, on_close, on_stopped
        self.steps: list[Step] = []
        self.started = 0

    def apply(self, parent: Any, **kwargs: Any) -> Blueprint:
        """Bind each step to ``parent`` (``__init__``, then ``include``/``create``)."""
        for step_type in self.types:
            step = step_type(parent, **kwargs)
            if step.include(parent):
                self.steps.append(step)
        return self

    def start(self, parent: Any) -> None:
        if self.on_start is not None:
            self.on_start()
        for step in self.steps:
            if isinstance(step, StartStopStep):
                step.start(parent)
            self.started += 1

    def stop(self, parent: Any, terminate: bool = False) -> None:
        """Stop the started steps, last first; one step failing does not stop the others."""
        if self.on_close is not None:
            self.on_close()
        for step in reversed(self.steps[:self.started]):
            if not isinstance(step, StartStopStep):
                continue
            try:
                step.terminate(parent) if terminate else step.stop(parent)
            except Exception:
                logger.exception("bootstep %s failed to stop", step.alias)
        self.started = 0
        if self.on_stopped is not None:
            self.on_stopped()


__all__ = ["Blueprint", "ChannelSource", "Consumer", "ConsumerStep", "Message",
           "StartStopStep", "Step", "StepType"]
