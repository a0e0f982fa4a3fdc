"""``*_transport_options`` keys: what is accepted is acted on; what is not is said at once.

Each transport and store reads a frozen dataclass (``config/transport_keys.py``) built once by
``config.options``. A key no field holds is logged with the known keys; a key Celery or kombu
reads that celeriac ignores is logged with the reason. The meta-test below holds the other
half of the promise: every field is read by some module outside ``config/``.
"""

from __future__ import annotations

import ast
import logging
from pathlib import Path
from typing import Any

import pytest

from celeriac.config import keyed
from celeriac.config.keyed import KeyedOptions
from celeriac.config.options import backend_options, transport_options
from celeriac.config.settings import Settings
from celeriac.config.transport_keys import (
    AmqpTransportOptions,
    NoKeys,
    RedisClientOptions,
    RedisStoreOptions,
    RedisTransportOptions,
    RpcStoreOptions,
    SqliteStoreOptions,
    SqliteTransportOptions,
)
from celeriac.transport.amqp.topology import Topology
from celeriac.transport.redis.keys import KeyLayout
from celeriac.transport.sqlite.channel import SqliteChannel

PACKAGE = Path(__file__).resolve().parents[2] / "celeriac"
CLASSES: list[type[KeyedOptions]] = [
    RedisClientOptions, RedisTransportOptions, RedisStoreOptions, AmqpTransportOptions,
    RpcStoreOptions, SqliteTransportOptions, SqliteStoreOptions, NoKeys,
]


@pytest.fixture(autouse=True)
def _fresh_process_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keyed, "_reported", set())


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records
            if record.name == "celeriac.config.keyed" and record.levelno == logging.WARNING]


def _conf(**settings: Any) -> Settings:
    return Settings(settings)


@pytest.mark.parametrize(("url", "what", "known"), [
    ("redis://h/0", "the Redis transport", "visibility_timeout"),
    ("amqp://h//", "the AMQP transport", "queue_arguments"),
    ("sqlite:///x.db", "the SQLite transport", "busy_timeout"),
])
def test_an_unknown_broker_key_is_logged_with_the_known_keys(
        url: str, what: str, known: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.keyed")
    transport_options(_conf(broker_url=url, broker_transport_options={"visibilty_timeout": 5}))
    [message] = _warnings(caplog)
    assert "broker_transport_options['visibilty_timeout']" in message
    assert what in message and known in message


def test_a_key_of_another_broker_is_reported_too(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.keyed")
    transport_options(_conf(broker_url="amqp://h//",
                            broker_transport_options={"visibility_timeout": 5}))
    [message] = _warnings(caplog)
    assert "'visibility_timeout'" in message and "the AMQP transport" in message


def test_a_key_kombu_reads_but_celeriac_ignores_says_why(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.keyed")
    transport_options(_conf(broker_url="redis://h/0",
                            broker_transport_options={"fanout_prefix": True, "max_retries": 3}))
    messages = _warnings(caplog)
    assert len(messages) == 2
    assert all("has no effect" in message for message in messages)
    assert any(RedisTransportOptions.IGNORED["fanout_prefix"] in m for m in messages)


def test_result_backend_keys_are_checked_against_the_store(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.keyed")
    options = backend_options(_conf(result_backend_transport_options={
        "global_keyprefix": "app", "retry_policy": {}, "bogus": 1}), None, "redis://h/1")
    assert options.redis.global_keyprefix == "app"
    messages = _warnings(caplog)
    assert len(messages) == 2
    assert any("'bogus'" in m and "the Redis result store" in m for m in messages)
    assert any("'retry_policy'" in m and "has no effect" in m for m in messages)


def test_each_message_is_logged_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.keyed")
    for _ in range(3):
        transport_options(_conf(broker_url="memory://", broker_transport_options={"x": 1}))
    assert len(_warnings(caplog)) == 1


def test_settings_mapped_into_options_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "celeriac.config.keyed")
    conf = _conf(broker_url="redis://h/0", broker_heartbeat=30, task_queue_max_priority=5,
                 broker_use_ssl={"ssl_ca_certs": "/ca.pem"}, broker_transport_options={})
    options = transport_options(conf)
    assert options.redis.use_ssl == {"ssl_ca_certs": "/ca.pem"}
    assert _warnings(caplog) == []


def test_broker_keys_reach_the_typed_options_and_win_over_settings() -> None:
    conf = _conf(broker_url="amqp://h//", broker_heartbeat=30, task_queue_max_priority=5,
                 broker_transport_options={"queue_max_priority": 9, "prefetch_count": "4",
                                           "queue_arguments": {"q": {"x-a": 1}}})
    amqp = transport_options(conf).amqp
    assert (amqp.heartbeat, amqp.queue_max_priority, amqp.prefetch_count) == (30.0, 9, 4)
    topology = Topology(amqp)
    assert topology.queue_arguments("q") == {"x-a": 1, "x-max-priority": 9}


def test_redis_keys_reach_the_key_layout() -> None:
    conf = _conf(broker_url="redis://h/0", broker_transport_options={
        "global_keyprefix": "p:", "priority_steps": [0, 5], "visibility_timeout": "60"})
    redis = transport_options(conf).redis
    assert redis.visibility_timeout == 60.0
    layout = KeyLayout.from_options(redis)
    assert layout.prefix == "p:" and layout.priority_steps == (0, 5)


def test_sqlite_keys_reach_the_channel(tmp_path: Path) -> None:
    conf = _conf(broker_url=f"sqlite:///{tmp_path}/b.db", broker_transport_options={
        "busy_timeout": 7, "polling_interval": 0.2, "fanout_ttl": 5})
    channel = SqliteChannel(str(tmp_path / "b.db"), transport_options(conf))
    try:
        assert (channel._busy_timeout, channel._poll_max) == (7.0, 0.2)
        assert channel._fanout.ttl == 5.0
    finally:
        channel.close()


def test_rpc_and_sqlite_store_keys_reach_their_options() -> None:
    conf = _conf(result_persistent=True,
                 result_backend_transport_options={"rpc_unknown_timeout": 2, "busy_timeout": 1})
    rpc = backend_options(conf, "oid-1", "rpc://")
    assert (rpc.rpc.rpc_unknown_timeout, rpc.persistent, rpc.oid) == (2.0, True, "oid-1")
    assert backend_options(conf, None, "sqlite:///r.db").sqlite.busy_timeout == 1.0


# -- every field is acted on ----------------------------------------------------------------

def _attributes_read_outside_config() -> set[str]:
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if (PACKAGE / "config") in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names.update(node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute))
    return names


def test_every_typed_key_is_read_by_a_transport_or_store() -> None:
    read = _attributes_read_outside_config()
    unread = sorted(f"{cls.__name__}.{name}" for cls in CLASSES
                    for name in cls.field_names() if name not in read)
    assert not unread, f"accepted, never read (act on it or move it to IGNORED): {unread}"


def test_no_key_is_both_typed_and_ignored() -> None:
    for cls in CLASSES:
        assert not set(cls.known_keys()) & set(cls.IGNORED), cls.__name__
