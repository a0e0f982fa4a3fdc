"""Result store settings: ``result_*`` and the Redis, database and cache backends' own."""

from __future__ import annotations

from typing import Final

from celeriac.config.schema.option import (
    ANY,
    BOOL,
    CLASS_OR_PATH,
    DICT,
    FLOAT,
    INT,
    SECONDS,
    STR,
    Option,
)

_REDIS_URL: Final = (
    "give the Redis server in the result_backend URL, e.g. redis://user:pass@host:6379/0"
)
_REDIS_RETRY: Final = "the Redis clients always retry a timed-out command twice, with backoff"
_REDIS_KEEPALIVE: Final = "the Redis clients always enable TCP keepalive"
_RESULT_CACHE: Final = (
    "results are not cached across AsyncResult objects; each caches its own ready result"
)
_RESULT_EXCHANGE: Final = (
    "only Celery's removed amqp:// result backend used it; rpc:// replies go through the "
    "default exchange, as in Celery"
)
_CHORD_NO_WAIT: Final = (
    "celeriac's chord join counts header results as they are stored and never waits or polls "
    "for them, so there is no join to time out or retry"
)
_CHORD_EXPIRES: Final = (
    "chord join data has no lifetime of its own: it is removed when the chord fires"
)
_FAILURE_EXPIRES: Final = "failed results expire after result_expires like any other"


RESULT: Final[tuple[Option, ...]] = (
    Option(
        "result_backend",
        None,
        CLASS_OR_PATH,
        ("CELERY_RESULT_BACKEND",),
        doc="Where results are stored: sqlite://, redis://, rpc://, db+<SQLAlchemy URL>, "
        "cache+memory://, cache+memcached://host:11211/, file:///directory.",
    ),
    Option("result_cache_max", -1, INT, ("CELERY_MAX_CACHED_RESULTS",), unsupported=_RESULT_CACHE),
    Option("result_compression", None, STR, ("CELERY_RESULT_COMPRESSION",)),
    Option(
        "result_exchange",
        "celeryresults",
        STR,
        ("CELERY_RESULT_EXCHANGE",),
        unsupported=_RESULT_EXCHANGE,
    ),
    Option(
        "result_exchange_type",
        "direct",
        STR,
        ("CELERY_RESULT_EXCHANGE_TYPE",),
        unsupported=_RESULT_EXCHANGE,
    ),
    # Celery's default is timedelta(days=1); stored as seconds.  The docs table spells the
    # old name CELERY_RESULT_EXPIRES, the code CELERY_TASK_RESULT_EXPIRES: accept both.
    Option(
        "result_expires",
        86400.0,
        SECONDS,
        ("CELERY_TASK_RESULT_EXPIRES", "CELERY_RESULT_EXPIRES"),
        doc="Seconds (or a timedelta) results are kept; None or 0 keeps them forever.",
    ),
    Option(
        "result_chord_expires",
        None,
        FLOAT,
        ("CELERY_RESULT_CHORD_EXPIRES",),
        unsupported=_CHORD_EXPIRES,
    ),
    Option(
        "result_failure_expires",
        None,
        FLOAT,
        ("CELERY_RESULT_FAILURE_EXPIRES",),
        unsupported=_FAILURE_EXPIRES,
    ),
    Option("result_persistent", None, BOOL, ("CELERY_RESULT_PERSISTENT",)),
    Option(
        "result_extended",
        False,
        BOOL,
        ("CELERY_RESULT_EXTENDED",),
        doc="Also store name, args, kwargs, worker, retries and queue with the result.",
    ),
    Option("result_serializer", "json", STR, ("CELERY_RESULT_SERIALIZER",)),
    Option(
        "result_backend_transport_options", {}, DICT, ("CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS",)
    ),
    Option(
        "result_chord_retry_interval",
        1.0,
        FLOAT,
        ("CELERY_RESULT_CHORD_RETRY_INTERVAL",),
        unsupported=_CHORD_NO_WAIT,
    ),
    Option(
        "result_chord_join_timeout",
        3.0,
        FLOAT,
        ("CELERY_RESULT_CHORD_JOIN_TIMEOUT",),
        unsupported=_CHORD_NO_WAIT,
    ),
    Option(
        "result_backend_max_sleep_between_retries_ms",
        10000,
        INT,
        ("CELERY_RESULT_BACKEND_MAX_SLEEP_BETWEEN_RETRIES_MS",),
    ),
    Option(
        "result_backend_max_retries", float("inf"), FLOAT, ("CELERY_RESULT_BACKEND_MAX_RETRIES",)
    ),
    Option(
        "result_backend_base_sleep_between_retries_ms",
        10,
        INT,
        ("CELERY_RESULT_BACKEND_BASE_SLEEP_BETWEEN_RETRIES_MS",),
    ),
    Option("result_backend_always_retry", False, BOOL, ("CELERY_RESULT_BACKEND_ALWAYS_RETRY",)),
)

REDIS: Final[tuple[Option, ...]] = (
    Option(
        "redis_backend_use_ssl",
        None,
        DICT,
        ("CELERY_REDIS_BACKEND_USE_SSL",),
        doc="ssl options for a rediss:// result backend (ssl_cert_reqs, ...).",
    ),
    Option("redis_db", None, INT, ("CELERY_REDIS_DB",), unsupported=_REDIS_URL),
    Option("redis_host", None, STR, ("CELERY_REDIS_HOST",), unsupported=_REDIS_URL),
    Option("redis_max_connections", None, INT, ("CELERY_REDIS_MAX_CONNECTIONS",)),
    Option("redis_username", None, STR, ("CELERY_REDIS_USERNAME",), unsupported=_REDIS_URL),
    Option(
        "redis_password", None, STR, ("CELERY_REDIS_PASSWORD",), secret=True, unsupported=_REDIS_URL
    ),
    Option("redis_port", None, INT, ("CELERY_REDIS_PORT",), unsupported=_REDIS_URL),
    Option("redis_socket_timeout", 120.0, FLOAT, ("CELERY_REDIS_SOCKET_TIMEOUT",)),
    Option("redis_socket_connect_timeout", None, FLOAT, ("CELERY_REDIS_SOCKET_CONNECT_TIMEOUT",)),
    Option(
        "redis_retry_on_timeout",
        False,
        BOOL,
        ("CELERY_REDIS_RETRY_ON_TIMEOUT",),
        unsupported=_REDIS_RETRY,
    ),
    Option(
        "redis_socket_keepalive",
        False,
        BOOL,
        ("CELERY_REDIS_SOCKET_KEEPALIVE",),
        unsupported=_REDIS_KEEPALIVE,
    ),
)

DATABASE: Final[tuple[Option, ...]] = (
    Option(
        "database_url",
        None,
        STR,
        ("CELERY_RESULT_DBURI",),
        doc="SQLAlchemy URL of the SQL result store for result_backend='database' (a "
        "'db+<url>' result_backend wins).",
    ),
    Option(
        "database_engine_options",
        {"pool_pre_ping": True, "pool_recycle": 3600},
        DICT,
        ("CELERY_RESULT_ENGINE_OPTIONS",),
    ),
    Option(
        "database_engine_callback",
        None,
        ANY,
        ("DATABASE_ENGINE_CALLBACK",),
    ),
    Option(
        "database_short_lived_sessions",
        False,
        BOOL,
        ("CELERY_RESULT_DB_SHORT_LIVED_SESSIONS",),
    ),
    Option(
        "database_table_schemas", None, DICT, ("DATABASE_TABLE_SCHEMAS",)
    ),
    # CELERY_RESULT_DB_TABLE_NAMES is the docs table's spelling of the code's TABLENAMES.
    Option(
        "database_table_names",
        None,
        DICT,
        ("CELERY_RESULT_DB_TABLENAMES", "CELERY_RESULT_DB_TABLE_NAMES"),
        doc="Table names under 'task', 'group' (Celery's) and 'chord' (celeriac's chord "
        "counters; its parts table adds '_parts').",
    ),
    Option(
        "database_create_tables_at_setup",
        True,
        BOOL,
        ("DATABASE_CREATE_TABLES_AT_SETUP",),
    ),
)

CACHE: Final[tuple[Option, ...]] = (
    Option(
        "cache_backend",
        None,
        STR,
        ("CELERY_CACHE_BACKEND",),
        doc="The store of result_backend='cache' (memcached://h1:11211;h2:11211/ or "
        "memory://), or the Django cache alias of result_backend='django-cache'.",
    ),
    Option(
        "cache_backend_options",
        {},
        DICT,
        ("CELERY_CACHE_BACKEND_OPTIONS",),
        doc="Keyword arguments of the memcached store's pymemcache client.",
    ),
)

ALL: Final[tuple[Option, ...]] = RESULT + REDIS + DATABASE + CACHE
