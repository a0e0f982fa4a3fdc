"""The worker's remote-control node (pidbox) and its command handlers.

``control_command`` and ``inspect_command`` are Celery's decorators for user-defined commands
(``from celery.worker.control import control_command`` becomes
``from celeriac.worker.control import control_command``).
"""

from __future__ import annotations

from celeriac.worker.control.node import ControlNode, TaskInfo, WorkerView
from celeriac.worker.control.registry import ControlState, control_command, inspect_command

__all__ = ["ControlNode", "ControlState", "TaskInfo", "WorkerView", "control_command",
           "inspect_command"]
