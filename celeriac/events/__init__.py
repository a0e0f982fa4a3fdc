"""Celery's events (the ``celeryev`` exchange): task and worker events for monitors.

A layer beside ``control`` and ``backends``: it speaks through a transport's
``FanoutChannel`` and knows no worker, app or command line. Sending: ``EventDispatcher``
(``dispatcher.py``) and the event dicts (``event.py``). Receiving: ``EventReceiver``
(``receiver.py``), the cluster ``State`` it can feed (``state.py``) and the ``Polaroid``
cameras that take pictures of it (``snapshot.py``).
"""

from celeriac.events.dispatcher import EventDispatcher
from celeriac.events.receiver import EventReceiver
from celeriac.events.snapshot import Polaroid
from celeriac.events.state import State

__all__ = ["EventDispatcher", "EventReceiver", "Polaroid", "State"]
