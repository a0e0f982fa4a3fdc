"""The settings table and ``Settings`` (``app.conf``): names, defaults, typos, redaction."""

from __future__ import annotations

import pickle
import warnings
from datetime import timedelta
from typing import Any

import pytest

from celeriac.config import OLD_TO_NEW, OPTIONS, CeleriacWarning, Settings
from celeriac.config.settings import REDACTED, suggest_setting

#: Old names the issue lists, with the new name each must mean and a sample value.
ISSUE_OLD_NAMES: list[tuple[str, str, Any]] = [
    ("BROKER_URL", "broker_url", "redis://localhost:6379/0"),
    ("CELERY_RESULT_BACKEND", "result_backend", "redis://localhost:6379/1"),
    ("CELERY_TASK_SERIALIZER", "task_serializer", "msgpack"),
    ("CELERY_RESULT_SERIALIZER", "result_serializer", "msgpack"),
    ("CELERY_ACCEPT_CONTENT", "accept_content", ["json", "msgpack"]),
    ("CELERY_TASK_RESULT_EXPIRES", "result_expires", 3600.0),
    ("CELERYD_CONCURRENCY", "worker_concurrency", 8),
    ("CELERYD_PREFETCH_MULTIPLIER", "worker_prefetch_multiplier", 1),
    ("CELERYD_MAX_TASKS_PER_CHILD", "worker_max_tasks_per_child", 100),
    ("CELERY_DEFAULT_QUEUE", "task_default_queue", "default"),
    ("CELERY_ACKS_LATE", "task_acks_late", True),
    ("CELERY_MESSAGE_COMPRESSION", "task_compression", "gzip"),
    ("CELERY_TIMEZONE", "timezone", "Europe/Paris"),
    ("CELERY_ENABLE_UTC", "enable_utc", False),
    ("CELERYBEAT_SCHEDULE", "beat_schedule", {"every-minute": {"task": "t", "schedule": 60}}),
    ("CELERYD_TASK_TIME_LIMIT", "task_time_limit", 30.0),
]

#: Old names Celery's *documentation* table gives where its code uses another spelling.
#: We accept both; anything else beyond Celery's code mapping is a mistake in our table.
DOCUMENTED_ALIASES: dict[str, set[str]] = {
    "enable_utc": {"CELERY_ENABLE_UTC"},
    "result_expires": {"CELERY_RESULT_EXPIRES"},
    "task_always_eager": {"CELERY_TASK_ALWAYS_EAGER"},
    "task_compression": {"CELERY_COMPRESSION"},
    "task_eager_propagates": {"CELERY_EAGER_PROPAGATES"},
    "task_send_sent_event": {"CELERY_SEND_SENT_EVENT"},
    "task_soft_time_limit": {"CELERYD_SOFT_TIME_LIMIT"},
    "task_time_limit": {"CELERYD_TIME_LIMIT"},
    "task_track_started": {"CELERY_TASK_TRACK_STARTED"},
    "task_reject_on_worker_lost": {"CELERY_TASK_REJECT_ON_WORKER_LOST"},
    "worker_log_format": {"CELERY_WORKER_LOG_FORMAT"},
    "worker_task_log_format": {"CELERY_WORKER_TASK_LOG_FORMAT"},
    "database_table_names": {"CELERY_RESULT_DB_TABLE_NAMES"},
}


def _comparable(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


@pytest.mark.parametrize(("old", "new", "value"), ISSUE_OLD_NAMES)
def test_old_name_reads_and_writes_the_new_name(old: str, new: str, value: Any) -> None:
    conf = Settings({old: value})

    assert conf[new] == value
    assert getattr(conf, new) == value
    assert conf[old] == value
    assert getattr(conf, old) == value
    assert conf.changes == {new: value}


@pytest.mark.parametrize(("old", "new", "value"), ISSUE_OLD_NAMES)
def test_old_name_attribute_assignment_stores_the_new_name(old: str, new: str, value: Any) -> None:
    conf = Settings()

    setattr(conf, old, value)

    assert conf.changes == {new: value}
    assert conf.value_set_for(old)
    assert conf.value_set_for(new)


def test_table_old_names_and_defaults_match_celery() -> None:
    celery_defaults = pytest.importorskip("celery.app.defaults")
    celery_old: dict[str, set[str]] = {}
    for old, new in celery_defaults._TO_NEW_KEY.items():
        celery_old.setdefault(new, set()).add(old)

    for name, option in OPTIONS.items():
        if name.startswith("celeriac_"):
            assert not option.old_names, name
            continue
        assert name in celery_defaults.DEFAULTS, f"{name} is not a Celery setting"
        ours = set(option.old_names)
        assert celery_old[name] <= ours, f"{name}: missing Celery old names"
        assert ours - celery_old[name] <= DOCUMENTED_ALIASES.get(name, set()), name
        assert option.default == _comparable(celery_defaults.DEFAULTS[name]), name


def test_every_celery_old_name_of_a_declared_option_translates() -> None:
    celery_defaults = pytest.importorskip("celery.app.defaults")

    for old, new in celery_defaults._TO_NEW_KEY.items():
        if new in OPTIONS:
            assert OLD_TO_NEW[old] == new


def test_unset_options_read_celery_defaults() -> None:
    conf = Settings()

    assert conf.task_default_queue == "celery"
    assert conf.accept_content == ("json",)
    assert conf.result_expires == 86400.0
    assert conf.enable_utc is True
    assert conf.worker_concurrency is None
    assert conf.worker_prefetch_multiplier == 4
    assert conf.worker_pool == "prefork"
    assert conf.beat_schedule == {}
    assert conf.celeriac_lease_heartbeat == 1.0
    assert conf.celeriac_lease_timeout == 6.0
    assert conf.changes == {}


def test_mutable_defaults_are_not_shared_between_instances() -> None:
    first, second = Settings(), Settings()

    first.beat_schedule["job"] = {"task": "t", "schedule": 1}

    assert second.beat_schedule == {}
    assert OPTIONS["beat_schedule"].default == {}


@pytest.mark.parametrize("key", ["result_expires", "CELERY_TASK_RESULT_EXPIRES"])
def test_result_expires_timedelta_is_normalized_to_seconds(key: str) -> None:
    conf = Settings({key: timedelta(hours=1)})

    assert conf.result_expires == 3600.0


def test_default_exchange_and_routing_key_follow_the_default_queue() -> None:
    conf = Settings(task_default_queue="jobs")

    assert conf.task_default_exchange == "jobs"
    assert conf.task_default_routing_key == "jobs"


def test_unknown_lowercase_names_are_user_settings() -> None:
    conf = Settings()

    conf.my_feature_flag = True
    conf["installed_apps"] = ["a", "b"]

    assert conf.my_feature_flag is True
    assert conf.changes == {"my_feature_flag": True, "installed_apps": ["a", "b"]}
    assert "my_feature_flag" in conf
    assert len(conf) == len(OPTIONS) + 2


def test_missing_names_raise_the_mapping_and_attribute_errors() -> None:
    conf = Settings()

    with pytest.raises(KeyError):
        conf["never_set"]
    with pytest.raises(AttributeError, match="never_set"):
        _ = conf.never_set
    assert conf.get("never_set", 5) == 5
    assert conf.get("BROKER_URL", "x") is None


def test_deleting_by_old_name_restores_the_default() -> None:
    conf = Settings(task_default_queue="jobs")

    del conf["CELERY_DEFAULT_QUEUE"]

    assert conf.task_default_queue == "celery"
    assert not conf.value_set_for("task_default_queue")


def test_mixed_old_and_new_names_are_accepted() -> None:
    conf = Settings({"BROKER_URL": "redis://b/0", "result_backend": "redis://r/1"})

    assert conf.changes == {"broker_url": "redis://b/0", "result_backend": "redis://r/1"}


@pytest.mark.parametrize(
    "pairs",
    [
        [("BROKER_URL", "redis://old/0"), ("broker_url", "redis://new/0")],
        [("broker_url", "redis://new/0"), ("BROKER_URL", "redis://old/0")],
    ],
)
def test_new_name_wins_over_old_name_in_one_update(pairs: list[tuple[str, str]]) -> None:
    conf = Settings()

    conf.update(dict(pairs))

    assert conf.broker_url == "redis://new/0"


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [
        ("broker_ur", "broker_url"),
        ("result_backends", "result_backend"),
        ("task_acks_lates", "task_acks_late"),
        ("worker_concurency", "worker_concurrency"),
        ("TASK_ACKS_LATE", "task_acks_late"),
        ("CELERY_RESULT_BACKNED", "CELERY_RESULT_BACKEND"),
        ("CELERYD_PREFETCH_MULTIPLER", "CELERYD_PREFETCH_MULTIPLIER"),
        ("celeryd_concurrency", "worker_concurrency"),
        ("CELERY_BROKER_URL", "broker_url"),
    ],
)
def test_close_misspelling_warns_with_a_suggestion(typo: str, suggestion: str) -> None:
    conf = Settings()

    with pytest.warns(CeleriacWarning) as record:
        conf[typo] = 1

    assert str(record[0].message) == f"Unknown setting {typo!r}: did you mean {suggestion!r}?"
    assert conf[typo] == 1


def test_typo_warning_is_emitted_once_per_name() -> None:
    conf = Settings()
    with pytest.warns(CeleriacWarning):
        conf.broker_ur = 1

    conf.broker_ur = 2  # already a user setting: no second warning (warnings are errors)

    assert conf.broker_ur == 2


@pytest.mark.parametrize("name", ["my_app_timeout", "installed_apps", "DEBUG", "_private", "x"])
def test_user_names_far_from_any_setting_do_not_warn(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Settings({name: 1})


def test_celery_settings_outside_our_table_do_not_warn() -> None:
    celery_defaults = pytest.importorskip("celery.app.defaults")
    undeclared = {
        key
        for key in celery_defaults.SETTING_KEYS | celery_defaults._OLD_SETTING_KEYS
        if key not in OPTIONS and key not in OLD_TO_NEW
    }

    flagged = {key: suggest_setting(key) for key in undeclared if suggest_setting(key)}

    assert flagged == {}


def test_repr_redacts_secrets_and_url_passwords() -> None:
    conf = Settings(
        broker_url="redis://:hunter2@redis.example:6379/0",
        result_backend="db+postgresql://app:s3cret@db/results",
        security_key="-----BEGIN PRIVATE KEY-----",
        broker_transport_options={"sentinel_kwargs": {"password": "sentinel-pw"}},
    )
    conf.my_api_token = "tok-123"

    text = repr(conf) + conf.humanize()

    for secret in ("hunter2", "s3cret", "BEGIN PRIVATE", "sentinel-pw", "tok-123"):
        assert secret not in text
    assert "redis://:**@redis.example:6379/0" in text
    assert REDACTED in text


def test_humanize_with_defaults_lists_every_option() -> None:
    lines = Settings().humanize(with_defaults=True).splitlines()

    assert "task_default_queue: 'celery'" in lines
    assert len([line for line in lines if not line.startswith(" ")]) >= len(OPTIONS)


def test_table_uncensored_returns_real_values() -> None:
    conf = Settings(broker_password="pw")

    assert conf.table(censored=False) == {"broker_password": "pw"}
    assert conf.table() == {"broker_password": REDACTED}


def test_settings_survive_pickling_and_copy() -> None:
    conf = Settings(BROKER_URL="redis://h/0", my_flag=1)

    restored = pickle.loads(pickle.dumps(conf))
    copied = conf.copy()
    copied.my_flag = 2

    assert restored.changes == {"broker_url": "redis://h/0", "my_flag": 1}
    assert conf.my_flag == 1


def test_every_declared_default_has_an_accepted_type() -> None:
    for name, option in OPTIONS.items():
        assert option.accepts(option.default), name
        assert name == name.lower()
        assert all(old == old.upper() for old in option.old_names), name


def test_secret_options_are_flagged() -> None:
    secrets = {name for name, option in OPTIONS.items() if option.secret}

    assert {"broker_password", "redis_password", "security_key", "security_key_password"} <= (
        secrets
    )


def test_typo_warning_points_at_the_callers_line() -> None:
    with pytest.warns(CeleriacWarning) as record:
        Settings(task_acks_lat=True)

    assert record[0].filename == __file__
