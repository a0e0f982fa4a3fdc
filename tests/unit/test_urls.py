"""URL parsing (kombu semantics) and password redaction."""

from __future__ import annotations

import pytest

from celeriac.config import parse_url, redact_url
from celeriac.config.urls import parse_urls
from celeriac.exceptions import ImproperlyConfigured


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("redis://:secret@host/0", "redis://:**@host/0"),
        ("amqp://user:pw@h//", "amqp://user:**@h//"),
        (
            "rediss://default:pw@cache.example:6380/2?ssl_cert_reqs=required",
            "rediss://default:**@cache.example:6380/2?ssl_cert_reqs=required",
        ),
        ("db+postgresql://app:p%40ss@db:5432/results", "db+postgresql://app:**@db:5432/results"),
        (
            "sentinel://:pw@s1:26379;sentinel://:pw@s2:26379",
            "sentinel://:**@s1:26379;sentinel://:**@s2:26379",
        ),
        ("sqs://AKIA123:abc/def+ghi@", "sqs://AKIA123:**@"),
        ("redis://:p@ss@host/1", "redis://:**@host/1"),
        ("redis://host:6379/0?password=secret&db=1", "redis://host:6379/0?password=**&db=1"),
    ],
)
def test_passwords_are_masked(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    "url",
    [
        "redis://localhost:6379/0",
        "amqp://guest@localhost//",
        "memory://",
        "redis+socket:///tmp/redis.sock",
        "cache+memcached://127.0.0.1:11211;127.0.0.2:11211/",
        "not a url at all",
        "",
    ],
)
def test_urls_without_passwords_are_unchanged(url: str) -> None:
    assert redact_url(url) == url


def test_parse_url_splits_like_kombu() -> None:
    parsed = parse_url("amqp://user:p%40ss@rabbit.example:5672/prod?heartbeat=30")

    assert parsed.scheme == "amqp"
    assert parsed.host == "rabbit.example"
    assert parsed.port == 5672
    assert parsed.username == "user"
    assert parsed.password == "p@ss"
    assert parsed.vhost == "prod"
    assert dict(parsed.query) == {"heartbeat": "30"}


def test_parse_url_default_vhost_and_redis_db() -> None:
    assert parse_url("amqp://guest:guest@localhost//").vhost == "/"
    assert parse_url("redis://localhost:6379/3").db == 3
    assert parse_url("redis://localhost").db is None
    assert parse_url("memory://").host is None


def test_parsed_url_repr_and_str_hide_the_password() -> None:
    parsed = parse_url("redis://user:topsecret@h:6379/0?password=alsosecret")

    assert "topsecret" not in repr(parsed)
    assert "alsosecret" not in repr(parsed)
    assert "topsecret" not in str(parsed)
    assert str(parsed) == "redis://user:**@h:6379/0?password=**"


def test_parsed_url_is_hashable_and_comparable() -> None:
    url = "redis://:pw@h/0?a=1"

    assert parse_url(url) == parse_url(url)
    assert hash(parse_url(url)) == hash(parse_url(url))


def test_parse_urls_splits_failover_lists() -> None:
    hosts = [parsed.host for parsed in parse_urls("sentinel://:pw@s1;sentinel://:pw@s2")]

    assert hosts == ["s1", "s2"]


def test_bad_db_number_is_improperly_configured_without_the_password() -> None:
    with pytest.raises(ImproperlyConfigured, match="database number") as info:
        _ = parse_url("redis://:pw@h/notanumber").db

    assert "pw@" not in str(info.value)


@pytest.mark.parametrize("url", ["localhost:6379", "redis://:pw@h:99999999/0"])
def test_malformed_urls_are_improperly_configured_without_the_password(url: str) -> None:
    with pytest.raises(ImproperlyConfigured) as info:
        parse_url(url)

    assert ":pw@" not in str(info.value)
