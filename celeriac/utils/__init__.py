"""Small helpers shared across celeriac; ``uuid`` is also ``celery.utils.uuid``."""

from __future__ import annotations

from celeriac.utils.ids import new_id

#: A random UUID4 string (``celery.uuid`` / ``celery.utils.uuid``); Celery's old name too.
uuid = gen_unique_id = new_id

__all__ = ["gen_unique_id", "uuid"]
