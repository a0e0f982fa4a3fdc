"""Beat run state in Redis: ``-s redis://host:6379/0`` (any Redis URL form the broker accepts).

One hash, ``<global_keyprefix>celeriac.beat.state``: entry name -> JSON
``{"last_run_at": "<ISO UTC>", "total_run_count": n}``. Keeping run state beside the lease
means beats on different hosts continue each other's schedule exactly on takeover, which a
per-host schedule file cannot give. ``redis`` is imported only when such a URL is used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from celeriac.beat.store import EntryState
from celeriac.config.transport_keys import RedisClientOptions
from celeriac.utils.time import UTC

STATE_KEY: Final = "celeriac.beat.state"


class RedisScheduleStore:
    """Run state in a Redis hash (see the module docstring).

    Args:
        client: a redis-py client.
        prefix: prepended to the key (the broker's ``global_keyprefix``).
    """

    def __init__(self, client: Any, prefix: str = "", *, owns_client: bool = False) -> None:
        self.client = client
        self.prefix = prefix
        self.key = f"{prefix}{STATE_KEY}"
        self._owns_client = owns_client

    @classmethod
    def from_url(cls, url: str, options: RedisClientOptions) -> RedisScheduleStore:
        """A store on the server ``url`` names; ``global_keyprefix`` and TLS/sentinel settings
        come from ``options`` (the app's ``broker_transport_options``)."""
        from celeriac.clients.redis import build_client, parse_url

        client = build_client(parse_url(url, options), options, 4.0)
        return cls(client, options.global_keyprefix, owns_client=True)

    def load(self) -> dict[str, EntryState]:
        raw = self.client.hgetall(self.key)
        states = {}
        for name, value in raw.items():
            data = json.loads(value)
            last = datetime.fromisoformat(data["last_run_at"])
            states[_text(name)] = EntryState(
                last if last.tzinfo else last.replace(tzinfo=UTC), int(data["total_run_count"])
            )
        return states

    def save(self, states: Mapping[str, EntryState], forget: Iterable[str] = ()) -> None:
        mapping = {
            name: json.dumps(
                {
                    "last_run_at": state.last_run_at.astimezone(UTC).isoformat(),
                    "total_run_count": state.total_run_count,
                }
            )
            for name, state in states.items()
        }
        gone = list(forget)
        if not mapping and not gone:
            return
        pipe = self.client.pipeline(transaction=True)
        if mapping:
            pipe.hset(self.key, mapping=mapping)
        if gone:
            pipe.hdel(self.key, *gone)
        pipe.execute()

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
