"""Broker connection settings (``broker_*``); Celery's old names are the uppercase names."""

from __future__ import annotations

from typing import Final

from celeriac.config.schema.option import BOOL, DICT, FLOAT, INT, STR, Option

_URL_PARTS: Final = (
    "give the broker as one URL in broker_url, e.g. amqp://user:pass@host:5672/vhost"
)
_SCHEME: Final = (
    "give the transport as broker_url's scheme (redis://, amqp://, sqlite://, memory://)"
)
_ONE_URL: Final = "one broker_url is used for both consuming and publishing"
_CHANNEL_RETRY: Final = (
    "channel errors are not retried on their own; a lost connection follows broker_connection_retry"
)
_FAILOVER: Final = (
    "failover between several broker URLs is not implemented (sentinel:// gives Redis failover)"
)
_CHECKRATE: Final = (
    "the RabbitMQ transport checks heartbeats on a schedule derived from broker_heartbeat"
)
_LOGIN: Final = (
    "choosing the SASL mechanism is not implemented: the user and password of broker_url are used"
)
_DELAYED: Final = (
    "RabbitMQ native delayed delivery is not implemented; ETA and countdown tasks wait in the "
    "worker"
)
_POOL_WAIT: Final = "publishing does not wait on a connection pool"


#: A broker URL, or a list of them for failover (kombu accepts both).
_URLS: Final = (str, list, tuple)

ALL: Final[tuple[Option, ...]] = (
    Option(
        "broker_url",
        None,
        _URLS,
        ("BROKER_URL",),
        doc="Where tasks are sent: sqlite://, redis://, rediss://, sentinel://, amqp://, "
        "amqps://, memory://. Passwords are redacted.",
    ),
    Option(
        "broker_read_url",
        None,
        _URLS,
        ("BROKER_READ_URL",),
        doc="Broker used for consuming, when it differs from broker_url.",
        unsupported=_ONE_URL,
    ),
    Option(
        "broker_write_url",
        None,
        _URLS,
        ("BROKER_WRITE_URL",),
        doc="Broker used for publishing, when it differs from broker_url.",
        unsupported=_ONE_URL,
    ),
    Option("broker_transport", None, STR, ("BROKER_TRANSPORT",), unsupported=_SCHEME),
    Option(
        "broker_transport_options",
        {},
        DICT,
        ("BROKER_TRANSPORT_OPTIONS",),
        doc="Transport-specific options, e.g. visibility_timeout, global_keyprefix, "
        "master_name, queue_order_strategy.",
    ),
    Option(
        "broker_connection_timeout",
        4,
        FLOAT,
        ("BROKER_CONNECTION_TIMEOUT",),
        doc="Seconds to wait for a connection before trying again.",
    ),
    Option(
        "broker_connection_retry",
        True,
        BOOL,
        ("BROKER_CONNECTION_RETRY",),
        doc="Reconnect automatically when the connection is lost while running.",
    ),
    Option(
        "broker_connection_retry_on_startup",
        None,
        BOOL,
        ("BROKER_CONNECTION_RETRY_ON_STARTUP",),
        doc="Retry the first connection; None means follow broker_connection_retry.",
    ),
    Option(
        "broker_connection_max_retries",
        100,
        INT,
        ("BROKER_CONNECTION_MAX_RETRIES",),
        doc="Give up after this many attempts; 0 or None means retry forever.",
    ),
    Option(
        "broker_channel_error_retry",
        False,
        BOOL,
        ("BROKER_CHANNEL_ERROR_RETRY",),
        unsupported=_CHANNEL_RETRY,
    ),
    Option(
        "broker_failover_strategy",
        None,
        STR,
        ("BROKER_FAILOVER_STRATEGY",),
        doc="'round-robin' or 'shuffle' over several broker URLs.",
        unsupported=_FAILOVER,
    ),
    Option(
        "broker_heartbeat",
        120,
        INT,
        ("BROKER_HEARTBEAT",),
        doc="AMQP heartbeat in seconds (0 disables); unused by Redis.",
    ),
    Option(
        "broker_heartbeat_checkrate",
        3.0,
        FLOAT,
        ("BROKER_HEARTBEAT_CHECKRATE",),
        unsupported=_CHECKRATE,
    ),
    Option(
        "broker_login_method",
        None,
        STR,
        ("BROKER_LOGIN_METHOD",),
        doc="AMQP SASL mechanism, e.g. AMQPLAIN or EXTERNAL.",
        unsupported=_LOGIN,
    ),
    Option(
        "broker_native_delayed_delivery_queue_type",
        "quorum",
        STR,
        ("BROKER_NATIVE_DELAYED_DELIVERY_QUEUE_TYPE",),
        unsupported=_DELAYED,
    ),
    Option(
        "broker_pool_limit",
        10,
        INT,
        ("BROKER_POOL_LIMIT",),
        doc="Celery's producer connection pool size.",
        unsupported="celeriac publishes on one thread-safe connection per process, so there is "
        "no producer pool to size",
    ),
    Option(
        "broker_pool_acquire_timeout",
        None,
        FLOAT,
        ("BROKER_POOL_ACQUIRE_TIMEOUT",),
        unsupported=_POOL_WAIT,
    ),
    Option(
        "broker_use_ssl",
        False,
        (bool, DICT),
        ("BROKER_USE_SSL",),
        doc="True, or a dict of ssl options (ssl_cert_reqs, ssl_ca_certs, ...).",
    ),
    # Pre-URL style connection parameters, still read by Celery when broker_url is unset.
    Option("broker_host", None, STR, ("BROKER_HOST",), unsupported=_URL_PARTS),
    Option("broker_port", None, INT, ("BROKER_PORT",), unsupported=_URL_PARTS),
    Option("broker_user", None, STR, ("BROKER_USER",), unsupported=_URL_PARTS),
    Option("broker_password", None, STR, ("BROKER_PASSWORD",), secret=True, unsupported=_URL_PARTS),
    Option("broker_vhost", None, STR, ("BROKER_VHOST",), unsupported=_URL_PARTS),
)
