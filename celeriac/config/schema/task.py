"""Task sending and execution settings (``task_*``).

Old names follow Celery's code (``CELERY_<key>`` unless an explicit old name exists). Where
Celery's documentation table spells an old name differently from its code, both spellings
are accepted; the one conflict (``CELERY_MESSAGE_COMPRESSION``, which the docs attribute to
``result_compression``) follows the code, i.e. ``task_compression``.
"""

from __future__ import annotations

from typing import Final

from celeriac.config.schema.option import (
    ANY,
    BOOL,
    DICT,
    FLOAT,
    INT,
    STR,
    Option,
)

_ACKS_ON_TIMEOUT: Final = (
    "a task killed at its hard time limit is always acknowledged (Celery's default)"
)
_PROTOCOL: Final = (
    "celeriac always sends message protocol 2 (Celery's default since 4.0); workers read 1 and 2"
)
_REMOTE_TB: Final = (
    "a failure's traceback is stored as text (AsyncResult.traceback), not attached to the "
    "re-raised exception"
)
_REPR_LEVELS: Final = "argument reprs in logs are cut by length only"
_RETRY_LOST: Final = (
    "use task_reject_on_worker_lost (with acks_late) to requeue a task whose process died"
)


ALL: Final[tuple[Option, ...]] = (
    Option(
        "task_acks_late",
        False,
        BOOL,
        ("CELERY_ACKS_LATE",),
        doc="Acknowledge after the task ran, so a crashed worker's task is redelivered.",
    ),
    Option(
        "task_acks_on_failure_or_timeout",
        True,
        BOOL,
        ("CELERY_ACKS_ON_FAILURE_OR_TIMEOUT",),
        doc="With acks_late, still acknowledge tasks that failed or timed out.",
    ),
    Option(
        "task_acks_on_failure",
        None,
        BOOL,
        ("CELERY_ACKS_ON_FAILURE",),
        doc="With acks_late, acknowledge failed tasks; None means task_acks_on_failure_or_timeout.",
    ),
    Option(
        "task_acks_on_timeout",
        None,
        BOOL,
        ("CELERY_ACKS_ON_TIMEOUT",),
        unsupported=_ACKS_ON_TIMEOUT,
    ),
    Option(
        "task_always_eager",
        False,
        BOOL,
        ("CELERY_ALWAYS_EAGER", "CELERY_TASK_ALWAYS_EAGER"),
        doc="Run tasks locally in apply_async instead of sending them (tests only).",
    ),
    Option(
        "task_annotations",
        None,
        ANY,
        ("CELERY_ANNOTATIONS",),
        doc="Per-task attribute overrides: {'tasks.add': {'rate_limit': '10/s'}}.",
    ),
    Option(
        "task_compression",
        None,
        STR,
        ("CELERY_MESSAGE_COMPRESSION", "CELERY_COMPRESSION"),
        doc="Compress task bodies: 'gzip', 'bzip2', 'zlib', ...",
    ),
    Option(
        "task_create_missing_queues",
        True,
        BOOL,
        ("CELERY_CREATE_MISSING_QUEUES",),
        doc="Declare queues named in routes but absent from task_queues.",
    ),
    Option("task_create_missing_queue_type", "classic", STR, ("CELERY_CREATE_MISSING_QUEUE_TYPE",)),
    Option(
        "task_create_missing_queue_exchange_type",
        None,
        STR,
        ("CELERY_CREATE_MISSING_QUEUE_EXCHANGE_TYPE",),
    ),
    Option(
        "task_inherit_parent_priority",
        False,
        BOOL,
        ("CELERY_INHERIT_PARENT_PRIORITY",),
    ),
    Option(
        "task_default_delivery_mode",
        2,
        (int, str),
        ("CELERY_DEFAULT_DELIVERY_MODE",),
        doc="2 or 'persistent' survives a broker restart; 1 or 'transient' does not.",
    ),
    Option(
        "task_default_queue",
        "celery",
        STR,
        ("CELERY_DEFAULT_QUEUE",),
        doc="Queue for tasks with no route.",
    ),
    Option("task_default_queue_type", "classic", STR, ("CELERY_DEFAULT_QUEUE_TYPE",)),
    Option(
        "task_default_exchange",
        None,
        STR,
        ("CELERY_DEFAULT_EXCHANGE",),
        doc="None means the name of task_default_queue.",
    ),
    Option("task_default_exchange_type", "direct", STR, ("CELERY_DEFAULT_EXCHANGE_TYPE",)),
    Option(
        "task_default_routing_key",
        None,
        STR,
        ("CELERY_DEFAULT_ROUTING_KEY",),
        doc="None means the name of task_default_queue.",
    ),
    Option("task_default_rate_limit", None, (str, int, float), ("CELERY_DEFAULT_RATE_LIMIT",)),
    Option("task_default_priority", None, INT, ("CELERY_DEFAULT_PRIORITY",)),
    Option(
        "task_eager_propagates",
        False,
        BOOL,
        ("CELERY_EAGER_PROPAGATES_EXCEPTIONS", "CELERY_EAGER_PROPAGATES"),
        doc="In eager mode, raise the task's exception from apply().",
    ),
    Option("task_ignore_result", False, BOOL, ("CELERY_IGNORE_RESULT",)),
    Option("task_store_eager_result", False, BOOL, ("CELERY_STORE_EAGER_RESULT",)),
    Option(
        "task_protocol",
        2,
        INT,
        ("CELERY_TASK_PROTOCOL",),
        doc="Message protocol version sent; workers read 1 and 2 either way.",
        unsupported=_PROTOCOL,
    ),
    Option("task_publish_retry", True, BOOL, ("CELERY_TASK_PUBLISH_RETRY",)),
    Option(
        "task_publish_retry_policy",
        {"max_retries": 3, "interval_start": 0, "interval_max": 1, "interval_step": 0.2},
        DICT,
        ("CELERY_TASK_PUBLISH_RETRY_POLICY",),
    ),
    Option(
        "task_queues",
        None,
        ANY,
        ("CELERY_QUEUES",),
        doc="Queues a worker consumes and publishers may declare (list or dict).",
    ),
    Option("task_queue_max_priority", None, INT, ("CELERY_QUEUE_MAX_PRIORITY",)),
    Option(
        "task_reject_on_worker_lost",
        None,
        BOOL,
        ("CELERY_REJECT_ON_WORKER_LOST", "CELERY_TASK_REJECT_ON_WORKER_LOST"),
        doc="With acks_late, requeue a task whose worker process died.",
    ),
    Option(
        "task_retry_on_worker_lost",
        False,
        BOOL,
        ("CELERY_RETRY_ON_WORKER_LOST",),
        unsupported=_RETRY_LOST,
    ),
    Option(
        "task_remote_tracebacks", False, BOOL, ("CELERY_REMOTE_TRACEBACKS",), unsupported=_REMOTE_TB
    ),
    Option("task_repr_maxlevels", 3, INT, ("CELERY_REPR_MAXLEVELS",), unsupported=_REPR_LEVELS),
    Option(
        "task_routes",
        None,
        ANY,
        ("CELERY_ROUTES",),
        doc="Router(s): dict of name/glob -> options, list of those, or callables.",
    ),
    Option(
        "task_send_sent_event",
        False,
        BOOL,
        ("CELERY_SEND_TASK_SENT_EVENT", "CELERY_SEND_SENT_EVENT"),
        doc="Clients send a task-sent event for every task they publish.",
    ),
    Option("task_serializer", "json", STR, ("CELERY_TASK_SERIALIZER",)),
    Option(
        "task_soft_time_limit",
        None,
        FLOAT,
        ("CELERYD_TASK_SOFT_TIME_LIMIT", "CELERYD_SOFT_TIME_LIMIT"),
        doc="Seconds before SoftTimeLimitExceeded is raised inside the task.",
    ),
    Option(
        "task_time_limit",
        None,
        FLOAT,
        ("CELERYD_TASK_TIME_LIMIT", "CELERYD_TIME_LIMIT"),
        doc="Seconds before the task is killed (TimeLimitExceeded).",
    ),
    Option(
        "task_store_errors_even_if_ignored", False, BOOL, ("CELERY_STORE_ERRORS_EVEN_IF_IGNORED",)
    ),
    Option(
        "task_track_started",
        False,
        BOOL,
        ("CELERY_TRACK_STARTED", "CELERY_TASK_TRACK_STARTED"),
        doc="Record STARTED when a worker begins the task.",
    ),
    Option(
        "task_allow_error_cb_on_chord_header",
        False,
        BOOL,
        ("CELERY_ALLOW_ERROR_CB_ON_CHORD_HEADER",),
        doc="chord.link_error also links the errback to every header task.",
    ),
)
