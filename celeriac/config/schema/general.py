"""Top-level, beat, remote-control, events, security and celeriac-only settings."""

from __future__ import annotations

from typing import Final

from celeriac.config.schema.option import (
    BOOL,
    CLASS_OR_PATH,
    DICT,
    FLOAT,
    INT,
    SEQ,
    STR,
    TZ,
    Option,
)

_BEAT_CONTROL: Final = "beat does not answer remote control commands"
_CONTROL_QUEUES: Final = (
    "celeriac declares the pidbox queues as Celery does by default (non-durable, exclusive)"
)
_RABBITMQ_ONLY: Final = (
    " RabbitMQ only: Redis, SQLite and memory brokers have no such queues (kombu ignores it on"
    " Redis too)."
)
_SIGNING: Final = "message signing (the 'auth' serializer, app.setup_security()) is not implemented"


GENERAL: Final[tuple[Option, ...]] = (
    Option(
        "accept_content",
        ("json",),
        SEQ,
        ("CELERY_ACCEPT_CONTENT",),
        doc="Serializers (names or MIME types) a worker will decode; others are rejected.",
    ),
    Option(
        "result_accept_content",
        None,
        SEQ,
        ("RESULT_ACCEPT_CONTENT",),
        doc="Serializers accepted when reading results; None means accept_content.",
    ),
    # Celery's code maps ENABLE_UTC, its docs table CELERY_ENABLE_UTC: accept both.
    Option(
        "enable_utc",
        True,
        BOOL,
        ("ENABLE_UTC", "CELERY_ENABLE_UTC"),
        doc="Send aware UTC datetimes; False means the local timezone.",
    ),
    Option(
        "imports",
        (),
        SEQ,
        ("CELERY_IMPORTS",),
        doc="Modules a worker imports at startup to register tasks.",
    ),
    Option("include", (), SEQ, ("CELERY_INCLUDE",), doc="Like imports, imported after them."),
    Option(
        "timezone",
        None,
        TZ,
        ("CELERY_TIMEZONE",),
        doc="Timezone for beat's crontab and for local times; None means UTC.",
    ),
)

BEAT: Final[tuple[Option, ...]] = (
    Option(
        "beat_enable_remote_control",
        False,
        BOOL,
        ("CELERYBEAT_ENABLE_REMOTE_CONTROL",),
        unsupported=_BEAT_CONTROL,
    ),
    Option(
        "beat_remote_control_max_tick_age",
        None,
        FLOAT,
        ("CELERYBEAT_REMOTE_CONTROL_MAX_TICK_AGE",),
        unsupported=_BEAT_CONTROL,
    ),
    Option(
        "beat_max_loop_interval",
        0,
        FLOAT,
        ("CELERYBEAT_MAX_LOOP_INTERVAL",),
        doc="Longest sleep between schedule checks; 0 means the scheduler's own default.",
    ),
    Option(
        "beat_schedule",
        {},
        DICT,
        ("CELERYBEAT_SCHEDULE",),
        doc="Periodic tasks: name -> {'task', 'schedule', 'args', 'kwargs', 'options'}.",
    ),
    Option(
        "beat_scheduler",
        "celery.beat:PersistentScheduler",
        CLASS_OR_PATH,
        ("CELERYBEAT_SCHEDULER",),
        doc="Scheduler class or 'module:Class' path; django-celery-beat's "
        "'django_celery_beat.schedulers:DatabaseScheduler' means celeriac's database scheduler.",
    ),
    Option(
        "beat_schedule_filename",
        "celerybeat-schedule",
        STR,
        ("CELERYBEAT_SCHEDULE_FILENAME",),
        doc="Where the persistent scheduler keeps state.",
    ),
    Option(
        "beat_sync_every",
        0,
        INT,
        ("CELERYBEAT_SYNC_EVERY",),
        doc="Call the scheduler's sync() after this many sent tasks (0: every 3 minutes); "
        "celeriac's own store is written after every tick regardless.",
    ),
    Option(
        "beat_cron_starting_deadline",
        None,
        INT,
        ("CELERYBEAT_CRON_STARTING_DEADLINE",),
        doc="Seconds a missed crontab run may still start late; None means always.",
    ),
)

CONTROL: Final[tuple[Option, ...]] = (
    Option(
        "control_queue_ttl",
        300.0,
        FLOAT,
        ("CONTROL_QUEUE_TTL",),
        doc="Seconds a remote-control command or reply waits in a pidbox queue (x-message-ttl)."
        + _RABBITMQ_ONLY,
    ),
    Option(
        "control_queue_expires",
        10.0,
        FLOAT,
        ("CONTROL_QUEUE_EXPIRES",),
        doc="Seconds an unused pidbox queue outlives its consumer (x-expires)." + _RABBITMQ_ONLY,
    ),
    Option(
        "control_queue_exclusive",
        True,
        BOOL,
        ("CONTROL_QUEUE_EXCLUSIVE",),
        unsupported=_CONTROL_QUEUES,
    ),
    Option(
        "control_queue_durable",
        False,
        BOOL,
        ("CONTROL_QUEUE_DURABLE",),
        unsupported=_CONTROL_QUEUES,
    ),
    Option(
        "control_exchange",
        "celery",
        STR,
        ("CONTROL_EXCHANGE",),
        doc="Name prefix of the pidbox exchanges (<name>.pidbox, reply.<name>.pidbox); "
        "clients and workers must agree on it, as in Celery.",
    ),
)

EVENTS: Final[tuple[Option, ...]] = (
    Option(
        "event_queue_expires",
        60.0,
        FLOAT,
        ("CELERY_EVENT_QUEUE_EXPIRES",),
        doc="Seconds an unused event subscriber queue outlives its consumer (x-expires)."
        + _RABBITMQ_ONLY,
    ),
    Option(
        "event_queue_ttl",
        5.0,
        FLOAT,
        ("CELERY_EVENT_QUEUE_TTL",),
        doc="Seconds an event waits in a subscriber queue (x-message-ttl)." + _RABBITMQ_ONLY,
    ),
    Option(
        "event_queue_prefix",
        "celeryev",
        STR,
        ("CELERY_EVENT_QUEUE_PREFIX",),
        doc="Name prefix of event subscriber queues (<prefix>.<uuid>)." + _RABBITMQ_ONLY,
    ),
    Option(
        "event_queue_exclusive",
        True,
        BOOL,
        ("CELERY_EVENT_QUEUE_EXCLUSIVE",),
        doc="Event subscriber queues are exclusive to their connection." + _RABBITMQ_ONLY,
    ),
    Option(
        "event_queue_durable",
        False,
        BOOL,
        ("CELERY_EVENT_QUEUE_DURABLE",),
        doc="Event subscriber queues are durable (then not exclusive, not auto-delete)."
        + _RABBITMQ_ONLY,
    ),
    Option(
        "event_serializer",
        "json",
        STR,
        ("CELERY_EVENT_SERIALIZER",),
        doc="How event bodies are encoded (Celery: json).",
    ),
    Option(
        "event_exchange",
        "celeryev",
        STR,
        ("CELERY_EVENT_EXCHANGE",),
        doc="The exchange events are broadcast on (Celery: celeryev).",
    ),
)

SECURITY: Final[tuple[Option, ...]] = (
    Option(
        "security_certificate", None, STR, ("CELERY_SECURITY_CERTIFICATE",), unsupported=_SIGNING
    ),
    Option("security_cert_store", None, STR, ("CELERY_SECURITY_CERT_STORE",), unsupported=_SIGNING),
    Option(
        "security_key",
        None,
        STR,
        ("CELERY_SECURITY_KEY",),
        secret=True,
        doc="Private key (PEM path or text) used to sign messages.",
        unsupported=_SIGNING,
    ),
    Option(
        "security_key_password",
        None,
        (str, bytes),
        ("CELERY_SECURITY_KEY_PASSWORD",),
        secret=True,
        unsupported=_SIGNING,
    ),
    Option("security_digest", "sha256", STR, ("CELERY_SECURITY_DIGEST",), unsupported=_SIGNING),
)

#: celeriac's own knobs: no Celery equivalent, so no old names.
CELERIAC: Final[tuple[Option, ...]] = (
    Option(
        "celeriac_lease_heartbeat",
        1.0,
        FLOAT,
        doc="Seconds between a worker's renewals of the leases on messages it holds. "
        "Lower means a dead worker is noticed sooner, at the cost of more broker "
        "round-trips.",
    ),
    Option(
        "celeriac_lease_timeout",
        6.0,
        FLOAT,
        doc="Seconds after a worker's last lease renewal before its unacknowledged "
        "messages are handed to other workers: how fast a dead (kill -9, lost host) "
        "worker's messages come back. Must exceed celeriac_lease_heartbeat by enough "
        "to ride out a GC pause or a slow broker.",
    ),
)

ALL: Final[tuple[Option, ...]] = GENERAL + BEAT + CONTROL + EVENTS + SECURITY + CELERIAC
