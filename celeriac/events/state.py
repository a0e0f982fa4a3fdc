"""The cluster as events describe it: Celery's ``celery.events.state.State``.

Feed every event to ``State.event`` (typically as the receiver's ``'*'`` handler) and read
``workers``, ``tasks``, ``tasks_by_time()``, ``tasks_by_type``, ``alive_workers()``. Monitors
run for a long time, so both maps are bounded (``max_workers_in_memory``,
``max_tasks_in_memory``: the least recently touched entry goes first) and the time index
holds weak references, so a forgotten task disappears from it too.

Every public method takes the state's lock, so a camera (``snapshot.Polaroid``) may read the
state from its timer thread while the receiver writes it (``freeze_while``).
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from itertools import islice
from typing import Any, ClassVar, TypeVar

from celeriac import states
from celeriac.events.state_lru import LRUCache
from celeriac.events.state_task import TASK_EVENT_TO_STATE, Task
from celeriac.events.state_task import Task as TaskState
from celeriac.events.state_worker import (
    HEARTBEAT_DRIFT_MAX,
    HEARTBEAT_EXPIRE_WINDOW,
    Worker,
    heartbeat_expires,
)
from celeriac.events.state_worker import Worker as WorkerState

R = TypeVar("R")
Event = dict[str, Any]
TaskIndex = Mapping[str, "weakref.WeakSet[TaskState]"]


class _TimeEntry:
    """One task event in the time index, ordered as kombu's ``timetuple``.

    Lamport clocks first (they order what different hosts said), the sender's id on a tie,
    wall-clock timestamps only when an event has no clock.
    """

    __slots__ = ("clock", "origin", "task", "timestamp")

    def __init__(self, clock: int, timestamp: float, origin: str, task: TaskState) -> None:
        self.clock = clock
        self.timestamp = timestamp or 0.0
        self.origin = origin or ""
        self.task = weakref.ref(task)

    def __lt__(self, other: _TimeEntry) -> bool:
        if self.clock and other.clock:
            if self.clock == other.clock:
                return self.origin < other.origin
            return self.clock < other.clock
        return self.timestamp < other.timestamp


class _CallableIndex(defaultdict[str, "weakref.WeakSet[TaskState]"]):
    """``state.tasks_by_type['proj.add']`` (a set) and ``state.tasks_by_type('proj.add')``
    (time-ordered ``(uuid, task)`` pairs) both work, as in Celery."""

    def __init__(self, ordered: Callable[..., Iterator[tuple[str, TaskState]]]) -> None:
        super().__init__(weakref.WeakSet)
        self._ordered = ordered

    def __call__(self, key: str, limit: int | None = None,
                 reverse: bool = True) -> Iterator[tuple[str, TaskState]]:
        return self._ordered(key, limit=limit, reverse=reverse)


class State:
    """Workers and tasks of a cluster, kept up to date by ``event``."""

    Worker: ClassVar[type[WorkerState]] = WorkerState
    Task: ClassVar[type[TaskState]] = TaskState
    heap_multiplier = 4

    def __init__(self, callback: Callable[[State, Event], Any] | None = None,
                 workers: LRUCache[str, WorkerState] | None = None,
                 tasks: LRUCache[str, TaskState] | None = None,
                 taskheap: list[_TimeEntry] | None = None,
                 max_workers_in_memory: int = 5000, max_tasks_in_memory: int = 10000,
                 on_node_join: Callable[[WorkerState], Any] | None = None,
                 on_node_leave: Callable[[WorkerState], Any] | None = None,
                 tasks_by_type: Mapping[str, list[str]] | None = None,
                 tasks_by_worker: Mapping[str, list[str]] | None = None) -> None:
        self.event_callback = callback
        self.workers: LRUCache[str, WorkerState] = (
            LRUCache(max_workers_in_memory) if workers is None else workers)
        self.tasks: LRUCache[str, TaskState] = (
            LRUCache(max_tasks_in_memory) if tasks is None else tasks)
        self._taskheap: list[_TimeEntry] = [] if taskheap is None else taskheap
        self.max_workers_in_memory = max_workers_in_memory
        self.max_tasks_in_memory = max_tasks_in_memory
        self.on_node_join = on_node_join
        self.on_node_leave = on_node_leave
        self.handlers: dict[str, Callable[[str, Event], Any]] = {}
        self.event_count = 0
        self.task_count = 0
        self._mutex = threading.Lock()
        self._seen_types: set[str] = set()
        self._tasks_to_resolve: LRUCache[str, weakref.WeakSet[TaskState]] = LRUCache(
            max_tasks_in_memory)
        self.tasks_by_type = _CallableIndex(self._tasks_by_type)
        self.tasks_by_worker = _CallableIndex(self._tasks_by_worker)
        for index, given in ((self.tasks_by_type, tasks_by_type),
                             (self.tasks_by_worker, tasks_by_worker)):
            for key, ids in (given or {}).items():
                index[key].update(self.tasks.data[i] for i in ids if i in self.tasks.data)
        self.rebuild_taskheap()

    # -- feeding ---------------------------------------------------------------------------
    def event(self, event: Event) -> tuple[tuple[Any, bool], str] | Any:
        """Apply one event (a dict with ``type``); returns ``((obj, created), subject)``."""
        with self._mutex:
            return self._event(event)

    def freeze_while(self, fun: Callable[..., R], *args: Any, clear_after: bool = False,
                     **kwargs: Any) -> R:
        """Run ``fun`` with no event applied meanwhile (a consistent snapshot)."""
        with self._mutex:
            try:
                return fun(*args, **kwargs)
            finally:
                if clear_after:
                    self._clear()

    def task_event(self, type_: str, fields: Event) -> Any:
        """Deprecated in Celery: ``event({'type': 'task-' + type_, ...})``."""
        return self.event({**fields, "type": f"task-{type_}"})[0]

    def worker_event(self, type_: str, fields: Event) -> Any:
        """Deprecated in Celery: ``event({'type': 'worker-' + type_, ...})``."""
        return self.event({**fields, "type": f"worker-{type_}"})[0]

    def _event(self, event: Event) -> tuple[tuple[Any, bool], str] | Any:
        self.event_count += 1
        if self.event_callback is not None:
            self.event_callback(self, event)
        group, _, subject = str(event["type"]).partition("-")
        handler = self.handlers.get(group)
        if handler is not None:
            return handler(subject, event), subject
        if group == "worker":
            return self._worker_event(subject, event)
        if group == "task":
            return self._task_event(subject, event)
        return None

    def _worker_event(self, subject: str, event: Event) -> tuple[tuple[Any, bool], str] | None:
        hostname = event.get("hostname")
        if hostname is None or "timestamp" not in event or "local_received" not in event:
            return None
        offline = subject == "offline"
        worker = self.workers.data.get(hostname)
        created = False
        if worker is None:
            worker = self.Worker(hostname)
            if not offline:  # an offline event alone does not make a worker known
                self.workers[hostname] = worker
                created = True
        worker.event(subject, event["timestamp"], event["local_received"], event)
        if self.on_node_join is not None and (created or subject == "online"):
            self.on_node_join(worker)
        if self.on_node_leave is not None and offline:
            self.on_node_leave(worker)
            self.workers.pop(hostname, None)
        return (worker, created), subject

    def _task_event(self, subject: str, event: Event) -> tuple[tuple[Any, bool], str]:
        uuid = event["uuid"]
        hostname = event.get("hostname")
        timestamp = event.get("timestamp")
        local_received = event.get("local_received")
        task = self.tasks.data.get(uuid)
        created = task is None
        if task is None:
            task = self.tasks[uuid] = self.Task(uuid, cluster_state=self)
        if subject == "sent":  # sent by the client, not by a worker
            task.client = hostname
            origin = str(hostname)
        else:
            worker = self.workers.data.get(hostname) if hostname is not None else None
            if worker is None:
                worker = self.workers[str(hostname)] = self.Worker(hostname)
            task.worker = worker
            if local_received:  # a task event is as good as a heartbeat
                worker.event(None, timestamp, local_received)
            origin = worker.id
        self._index_time(_TimeEntry(event.get("clock") or 0, timestamp or 0.0, origin, task))
        if subject == "received":
            self.task_count += 1
        task.event(subject, timestamp, local_received, event)
        if task.name is not None:
            # Indexed once the name is known, which for events arriving out of order is
            # not always the first one (Celery indexes only a task created by a named event).
            self._seen_types.add(task.name)
            self.tasks_by_type[task.name].add(task)
        if subject != "sent":
            self.tasks_by_worker[str(hostname)].add(task)
        self._link_family(task, uuid)
        return (task, created), subject

    def _index_time(self, entry: _TimeEntry) -> None:
        heap = self._taskheap
        if len(heap) + 1 > self.max_tasks_in_memory * self.heap_multiplier:
            heap.pop(0)
        if heap and heap[-1] < entry:
            heap.append(entry)
        else:
            bisect.insort(heap, entry)

    def _link_family(self, task: TaskState, uuid: str) -> None:
        if task.parent_id:
            parent = self.tasks.data.get(task.parent_id)
            if parent is not None:
                parent.children.add(task)
            else:
                waiting = self._tasks_to_resolve.get(task.parent_id)
                if waiting is None:
                    waiting = self._tasks_to_resolve[task.parent_id] = weakref.WeakSet()
                waiting.add(task)
        children = self._tasks_to_resolve.pop(uuid, None)
        if children is not None:
            task.children.update(children)

    # -- lookups ---------------------------------------------------------------------------
    def get_or_create_worker(self, hostname: str, **fields: Any) -> tuple[WorkerState, bool]:
        worker = self.workers.data.get(hostname)
        if worker is not None:
            if fields:
                worker.update(fields)
            return worker, False
        worker = self.workers[hostname] = self.Worker(hostname, **fields)
        return worker, True

    def get_or_create_task(self, uuid: str) -> tuple[TaskState, bool]:
        task = self.tasks.data.get(uuid)
        if task is not None:
            return task, False
        task = self.tasks[uuid] = self.Task(uuid, cluster_state=self)
        return task, True

    def itertasks(self, limit: int | None = None) -> Iterator[tuple[str, TaskState]]:
        return islice(iter(self.tasks.items()), limit)

    def tasks_by_time(self, limit: int | None = None,
                      reverse: bool = True) -> Iterator[tuple[str, TaskState]]:
        """``(uuid, task)`` by the time of their events, newest first; each task once."""
        entries = reversed(self._taskheap) if reverse else iter(self._taskheap)
        seen: set[str | None] = set()
        for entry in islice(list(entries), 0, limit):
            task = entry.task()
            if task is not None and task.uuid not in seen:
                seen.add(task.uuid)
                yield str(task.uuid), task

    tasks_by_timestamp = tasks_by_time

    def _tasks_by_type(self, name: str, limit: int | None = None,
                       reverse: bool = True) -> Iterator[tuple[str, TaskState]]:
        return islice(((uuid, task) for uuid, task in self.tasks_by_time(reverse=reverse)
                       if task.name == name), 0, limit)

    def _tasks_by_worker(self, hostname: str, limit: int | None = None,
                         reverse: bool = True) -> Iterator[tuple[str, TaskState]]:
        return islice(((uuid, task) for uuid, task in self.tasks_by_time(reverse=reverse)
                       if task.worker is not None and task.worker.hostname == hostname),
                      0, limit)

    def task_types(self) -> list[str]:
        """Every task name seen so far, sorted."""
        return sorted(self._seen_types)

    def alive_workers(self) -> Iterator[WorkerState]:
        """The workers whose last heartbeat is recent enough (``WorkerState.alive``)."""
        return (worker for worker in self.workers.values() if worker.alive)

    # -- forgetting ------------------------------------------------------------------------
    def clear_tasks(self, ready: bool = True) -> None:
        """Forget finished tasks (``ready``) or all of them."""
        with self._mutex:
            self._clear_tasks(ready)

    def _clear_tasks(self, ready: bool = True) -> None:
        if ready:
            in_progress = {uuid: task for uuid, task in self.tasks.items()
                           if task.state not in states.READY_STATES}
            self.tasks.clear()
            self.tasks.update(in_progress)
        else:
            self.tasks.clear()
        self._taskheap[:] = []

    def clear(self, ready: bool = True) -> None:
        with self._mutex:
            self._clear(ready)

    def _clear(self, ready: bool = True) -> None:
        self.workers.clear()
        self._clear_tasks(ready)
        self.event_count = 0
        self.task_count = 0

    def rebuild_taskheap(self) -> None:
        heap = [_TimeEntry(task.clock, task.timestamp or 0.0, task.origin or "", task)
                for task in self.tasks.values()]
        heap.sort()
        self._taskheap[:] = heap

    def __repr__(self) -> str:
        return f"<State: events={self.event_count} tasks={self.task_count}>"


__all__ = [
    "HEARTBEAT_DRIFT_MAX",
    "HEARTBEAT_EXPIRE_WINDOW",
    "TASK_EVENT_TO_STATE",
    "State",
    "Task",
    "Worker",
    "heartbeat_expires",
]
