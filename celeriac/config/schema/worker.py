"""Worker settings (``worker_*``; old names ``CELERYD_<key>`` unless Celery says otherwise)."""

from __future__ import annotations

from typing import Final

from celeriac.config.schema.option import BOOL, CLASS_OR_PATH, FLOAT, INT, STR, Option

_CUSTOM_CLASS: Final = "custom worker component classes are not supported"
_TIMER_PRECISION: Final = "ETA tasks and timeouts use celeriac's own scheduler"
_CANCEL_ON_LOSS: Final = "running tasks are not cancelled when the broker connection is lost"
_DEDUP: Final = "redelivered tasks are not checked against stored SUCCESS results"
_QUORUM: Final = "quorum queues are always detected (they get per-consumer prefetch)"
_DIRECT: Final = "workers do not consume a per-node <hostname>.dq queue"
_NO_PREFETCH: Final = "set worker_prefetch_multiplier=1 to hold at most one message per pool slot"
_PREFETCH_REDUCTION: Final = "the prefetch window is not reduced after a broker connection loss"
_ETA_LIMIT: Final = "ETA and countdown tasks held by a worker are not capped"
_PREFORK_INTERNALS: Final = (
    "celeriac's prefork pool has no such knob: it always forks, starts children without a "
    "deadline and fails a lost child's task at once"
)


#: Celery's default log formats, verbatim (log parsers in the wild match them).
DEFAULT_PROCESS_LOG_FMT: Final = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
DEFAULT_TASK_LOG_FMT: Final = (
    "[%(asctime)s: %(levelname)s/%(processName)s] %(task_name)s[%(task_id)s]: %(message)s"
)

ALL: Final[tuple[Option, ...]] = (
    Option("worker_agent", None, STR, ("CELERYD_AGENT",), unsupported=_CUSTOM_CLASS),
    Option(
        "worker_autoscaler",
        "celery.worker.autoscale:Autoscaler",
        CLASS_OR_PATH,
        ("CELERYD_AUTOSCALER",),
        doc="The autoscaler class --autoscale runs: Celery's default means celeriac's "
        "(celeriac.worker.autoscale:Autoscaler); others must subclass it.",
    ),
    Option(
        "worker_cancel_long_running_tasks_on_connection_loss",
        False,
        BOOL,
        ("CELERYD_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS",),
        unsupported=_CANCEL_ON_LOSS,
    ),
    Option(
        "worker_soft_shutdown_timeout",
        0.0,
        FLOAT,
        ("CELERYD_SOFT_SHUTDOWN_TIMEOUT",),
        doc="At a cold shutdown, seconds running tasks get to finish before they are handed "
        "back (Celery 5.5's soft shutdown); 0 disables it.",
    ),
    Option(
        "worker_enable_soft_shutdown_on_idle",
        False,
        BOOL,
        ("CELERYD_ENABLE_SOFT_SHUTDOWN_ON_IDLE",),
        doc="The soft shutdown period is taken even when no task is running.",
    ),
    Option(
        "worker_concurrency",
        None,
        (int, str),
        ("CELERYD_CONCURRENCY",),
        doc="Pool size; None (or 'auto') means the number of CPUs.",
    ),
    Option(
        "worker_consumer",
        "celery.worker.consumer:Consumer",
        CLASS_OR_PATH,
        ("CELERYD_CONSUMER",),
        unsupported=_CUSTOM_CLASS,
    ),
    Option("worker_direct", False, BOOL, ("CELERY_WORKER_DIRECT",), unsupported=_DIRECT),
    Option("worker_disable_rate_limits", False, BOOL, ("CELERY_DISABLE_RATE_LIMITS",)),
    Option(
        "worker_deduplicate_successful_tasks",
        False,
        BOOL,
        ("CELERYD_DEDUPLICATE_SUCCESSFUL_TASKS",),
        unsupported=_DEDUP,
    ),
    Option("worker_enable_remote_control", True, BOOL, ("CELERY_ENABLE_REMOTE_CONTROL",)),
    Option(
        "worker_hijack_root_logger",
        True,
        BOOL,
        ("CELERYD_HIJACK_ROOT_LOGGER",),
        doc="Replace the root logger's handlers; False keeps your logging setup.",
    ),
    Option("worker_log_color", None, BOOL, ("CELERYD_LOG_COLOR",)),
    Option("worker_log_datefmt", None, STR, ("CELERYD_LOG_DATEFMT",)),
    Option(
        "worker_log_format",
        DEFAULT_PROCESS_LOG_FMT,
        STR,
        ("CELERYD_LOG_FORMAT", "CELERY_WORKER_LOG_FORMAT"),
    ),
    Option(
        "worker_lost_wait",
        10.0,
        FLOAT,
        ("CELERYD_WORKER_LOST_WAIT",),
        unsupported=_PREFORK_INTERNALS,
    ),
    Option(
        "worker_max_memory_per_child",
        None,
        INT,
        ("CELERYD_MAX_MEMORY_PER_CHILD",),
        doc="Resident KiB after which a pool child is replaced (after its current task).",
    ),
    Option(
        "worker_max_tasks_per_child",
        None,
        INT,
        ("CELERYD_MAX_TASKS_PER_CHILD",),
        doc="Tasks a pool child runs before it is replaced.",
    ),
    Option(
        "worker_pool",
        "prefork",
        CLASS_OR_PATH,
        ("CELERYD_POOL",),
        doc="prefork, threads, solo, gevent, eventlet, or a class.",
    ),
    Option(
        "worker_pool_putlocks",
        True,
        BOOL,
        ("CELERYD_POOL_PUTLOCKS",),
        unsupported=_PREFORK_INTERNALS,
    ),
    Option(
        "worker_pool_restarts",
        False,
        BOOL,
        ("CELERYD_POOL_RESTARTS",),
        doc="Allow the pool_restart remote control command (re-import modules, fresh "
        "prefork children).",
    ),
    Option(
        "worker_pool_start_method",
        "fork",
        STR,
        ("CELERYD_POOL_START_METHOD",),
        unsupported=_PREFORK_INTERNALS,
    ),
    Option(
        "worker_proc_alive_timeout",
        4.0,
        FLOAT,
        ("CELERYD_PROC_ALIVE_TIMEOUT",),
        unsupported=_PREFORK_INTERNALS,
    ),
    Option(
        "worker_prefetch_multiplier",
        4,
        INT,
        ("CELERYD_PREFETCH_MULTIPLIER",),
        doc="Messages reserved per pool slot; 1 for long tasks, higher for short ones.",
    ),
    Option("worker_eta_task_limit", None, INT, ("CELERYD_ETA_TASK_LIMIT",), unsupported=_ETA_LIMIT),
    Option(
        "worker_enable_prefetch_count_reduction",
        True,
        BOOL,
        ("CELERYD_ENABLE_PREFETCH_COUNT_REDUCTION",),
        unsupported=_PREFETCH_REDUCTION,
    ),
    Option(
        "worker_disable_prefetch",
        False,
        BOOL,
        ("CELERYD_DISABLE_PREFETCH",),
        unsupported=_NO_PREFETCH,
    ),
    Option("worker_redirect_stdouts", True, BOOL, ("CELERY_REDIRECT_STDOUTS",)),
    Option("worker_redirect_stdouts_level", "WARNING", STR, ("CELERY_REDIRECT_STDOUTS_LEVEL",)),
    Option(
        "worker_send_task_events",
        False,
        BOOL,
        ("CELERY_SEND_EVENTS",),
        doc="Send Celery's task-* events for monitors (what worker -E turns on).",
    ),
    Option(
        "worker_state_db",
        None,
        STR,
        ("CELERYD_STATE_DB",),
        doc="File where revoked task ids survive restarts (what --statedb overrides); "
        "%n, %h, %d expand as in Celery.",
    ),
    Option("worker_task_log_datefmt", None, STR, ("CELERYD_TASK_LOG_DATEFMT",)),
    Option(
        "worker_task_log_format",
        DEFAULT_TASK_LOG_FMT,
        STR,
        ("CELERYD_TASK_LOG_FORMAT", "CELERY_WORKER_TASK_LOG_FORMAT"),
    ),
    Option("worker_timer", None, CLASS_OR_PATH, ("CELERYD_TIMER",), unsupported=_CUSTOM_CLASS),
    Option(
        "worker_timer_precision",
        1.0,
        FLOAT,
        ("CELERYD_TIMER_PRECISION",),
        unsupported=_TIMER_PRECISION,
    ),
    Option(
        "worker_detect_quorum_queues",
        True,
        BOOL,
        ("CELERYD_DETECT_QUORUM_QUEUES",),
        unsupported=_QUORUM,
    ),
)
