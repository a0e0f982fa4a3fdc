"""Remote control (Celery's pidbox): ``app.control`` and ``app.control.inspect()``."""

from __future__ import annotations

from celeriac.control.control import Control
from celeriac.control.inspect import Inspect
from celeriac.control.mailbox import ControlRequest, Mailbox

__all__ = ["Control", "ControlRequest", "Inspect", "Mailbox"]
