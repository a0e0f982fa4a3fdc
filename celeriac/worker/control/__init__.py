"""The worker's remote-control node (pidbox) and its command handlers."""

from __future__ import annotations

from celeriac.worker.control.node import ControlNode, TaskInfo, WorkerView

__all__ = ["ControlNode", "TaskInfo", "WorkerView"]
