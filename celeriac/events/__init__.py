"""Celery's events (the ``celeryev`` exchange): task and worker events for monitors.

A layer beside ``control`` and ``backends``: it speaks through a transport's
``FanoutChannel`` and knows no worker, app or command line. Sending: ``EventDispatcher``
(``dispatcher.py``) and the event dicts (``event.py``).
"""

from celeriac.events.dispatcher import EventDispatcher

__all__ = ["EventDispatcher"]
