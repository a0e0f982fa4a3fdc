"""The Redis key layout (kombu's names, priority buckets, bindings) and URL parsing; no I/O."""

from __future__ import annotations

import ssl

import pytest

from celeriac.clients.redis import parse_url
from celeriac.config.transport_keys import RedisClientOptions, RedisTransportOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport.redis.keys import KeyLayout, ordered_queues, queue_of_bucket


def test_default_layout_matches_kombu() -> None:
    layout = KeyLayout()
    assert layout.buckets("celery") == [
        "celery", "celery\x06\x163", "celery\x06\x166", "celery\x06\x169"
    ]
    assert layout.binding("celery") == "_kombu.binding.celery"
    assert layout.binding_permanent("celery") == "_kombu.binding_permanent.celery"
    assert layout.binding_member("celery", "", "celery") == "celery\x06\x16\x06\x16celery"
    assert (layout.unacked_key, layout.unacked_index_key, layout.unacked_mutex_key) == (
        "unacked", "unacked_index", "unacked_mutex"
    )


@pytest.mark.parametrize(
    ("priority", "suffix"),
    [(0, ""), (2, ""), (3, "\x06\x163"), (5, "\x06\x163"), (6, "\x06\x166"), (8, "\x06\x166"),
     (9, "\x06\x169"), (42, "\x06\x169"), (-1, "")],
)
def test_priority_buckets(priority: int, suffix: str) -> None:
    assert KeyLayout().bucket("q", priority) == "q" + suffix


def test_global_keyprefix_applies_to_every_key() -> None:
    layout = KeyLayout.from_options(RedisTransportOptions(global_keyprefix="app:", sep=":"))
    assert layout.bucket("q", 9) == "app:q:9"
    assert layout.binding("q") == "app:_kombu.binding.q"
    assert layout.unacked_key == "app:unacked"
    assert layout.delayed("q") == "app:celeriac.delayed.q"
    assert layout.leases("c1") == "app:celeriac.leases.c1"
    assert queue_of_bucket("app:q:9", layout) == "q"
    assert queue_of_bucket("app:q", layout) == "q"


def test_custom_priority_steps() -> None:
    layout = KeyLayout.from_options(RedisTransportOptions(priority_steps=tuple(range(10))))
    assert layout.bucket("q", 4) == "q\x06\x164"
    with pytest.raises(ImproperlyConfigured, match="start at 0"):
        KeyLayout.from_options(RedisTransportOptions.build({"priority_steps": [1, 5]}))


def test_delayed_member_splits_at_first_newline() -> None:
    member = KeyLayout(prefix="p:").delayed_member(b'{"a": "x\\ny"}', "q", 6)
    envelope, _, key = member.partition(b"\n")
    assert envelope == b'{"a": "x\\ny"}'
    assert key == b"p:q\x06\x166"


def test_queue_order_strategies() -> None:
    queues = ["b", "a", "c"]
    assert [ordered_queues(queues, "round_robin", t) for t in range(3)] == [
        ["b", "a", "c"], ["a", "c", "b"], ["c", "b", "a"]
    ]
    assert ordered_queues(queues, "priority", 1) == ["b", "a", "c"]
    assert ordered_queues(queues, "sorted", 1) == ["a", "b", "c"]


# -- URLs -------------------------------------------------------------------------------------
def test_plain_url() -> None:
    params = parse_url("redis://localhost:6380/3")
    assert params.db == 3
    assert params.kwargs == {"host": "localhost", "port": 6380}


def test_password_and_user() -> None:
    assert parse_url("redis://:s%40cret@h/1").kwargs["password"] == "s@cret"
    params = parse_url("redis://alice:pw@h:1234")
    assert (params.kwargs["username"], params.kwargs["password"], params.db) == ("alice", "pw", 0)
    assert "pw" not in params.redacted()


def test_rediss_takes_ssl_options() -> None:
    params = parse_url(
        "rediss://h:6380/0?ssl_cert_reqs=CERT_NONE",
        RedisClientOptions(use_ssl={"ssl_ca_certs": "/ca.pem"}),
    )
    assert params.kwargs["ssl"] is True
    assert params.kwargs["ssl_cert_reqs"] == ssl.CERT_NONE
    assert params.kwargs["ssl_ca_certs"] == "/ca.pem"
    with pytest.raises(ImproperlyConfigured, match="ssl_cert_reqs"):
        parse_url("rediss://h?ssl_cert_reqs=maybe")


def test_unix_socket() -> None:
    params = parse_url("redis+socket:///var/run/redis.sock?virtual_host=2")
    assert params.kwargs["unix_socket_path"] == "/var/run/redis.sock"
    assert params.db == 2


def test_sentinel_needs_master_name() -> None:
    url = "sentinel://:pw@h1:26379/4;sentinel://h2:26380"
    params = parse_url(url, RedisClientOptions(master_name="mymaster"))
    assert params.sentinels == (("h1", 26379), ("h2", 26380))
    assert params.db == 4
    assert params.kwargs["password"] == "pw"
    with pytest.raises(ImproperlyConfigured, match="master_name"):
        parse_url(url)


def test_bad_urls() -> None:
    with pytest.raises(ImproperlyConfigured, match="database number"):
        parse_url("redis://h/notanumber")
    with pytest.raises(ImproperlyConfigured, match="Not a Redis URL"):
        parse_url("amqp://h")
