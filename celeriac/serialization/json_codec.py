"""JSON with kombu's type markers (placeholder; extended by the serialization work)."""

from __future__ import annotations

import json
from typing import Any


def json_dumps(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def json_loads(data: bytes | str) -> Any:
    return json.loads(data)
