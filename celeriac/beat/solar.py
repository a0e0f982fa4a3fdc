"""``solar(event, lat, lon)``: placeholder until sun-position math lands."""

from __future__ import annotations

from typing import Any

from celeriac.exceptions import ImproperlyConfigured


class solar:
    def __init__(self, event: str, lat: float, lon: float, **kwargs: Any) -> None:
        raise ImproperlyConfigured("solar schedules are not implemented yet")
