"""The database beat schedule end to end: a real Django project on PostgreSQL, real
``celeriac beat --scheduler django_celery_beat.schedulers:DatabaseScheduler`` and
``celeriac worker`` processes on a SQLite broker, schedules edited while beat runs.

Django runs only in subprocesses (``tests.django_beat_project``). Waits are generous
deadlines; "stopped" is shown by ordering (a later task ran, the disabled one did not).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from tests.databases import postgres_database
from tests.django_beat_project import BeatProject, write_project
from tests.helpers import WorkerProcess, running_worker, unique_name, wait_until

pytestmark = pytest.mark.slow

ALIAS = "django_celery_beat.schedulers:DatabaseScheduler"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[BeatProject]:
    with postgres_database("beat") as database:
        proj = write_project(tmp_path, unique_name("beatdj"), database)
        proj.manage("migrate", "-v", "0")
        yield proj


def _beat(proj: BeatProject, name: str) -> AbstractContextManager[WorkerProcess]:
    return running_worker(
        proj.root, "-A", proj.package, "beat", "--scheduler", ALIAS, "-s",
        str(proj.root / f"{name}-schedule"), "--loglevel", "INFO", name=name, env=proj.env)


def _rows(proj: BeatProject) -> dict[str, dict[str, object]]:
    out = proj.run_django("""
        import json
        from celeriac.contrib.django.beat.models import PeriodicTask
        print(json.dumps({t.name: {"enabled": t.enabled, "runs": t.total_run_count,
                                   "last": t.last_run_at is not None}
                          for t in PeriodicTask.objects.all()}))
    """)
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_tasks_created_disabled_and_one_off_while_beat_runs(project: BeatProject) -> None:
    worker_args = ("-A", project.package, "worker", "--pool", "solo", "--loglevel", "INFO")
    with running_worker(project.root, *worker_args, name="worker", env=project.env), \
            _beat(project, "beat1") as beat, _beat(project, "beat2") as standby:
        wait_until(lambda: "from-settings" in _rows(project), timeout=60)
        project.run_django("""
            from celeriac.contrib.django.beat.models import IntervalSchedule, PeriodicTask
            every = IntervalSchedule.objects.create(every=1, period="seconds")
            PeriodicTask.objects.create(name="db-interval", task=TASK, interval=every,
                                        args='["interval"]')
        """.replace("TASK", repr(f"{project.package}.record")))
        wait_until(lambda: project.runs().count("interval") >= 2, timeout=60)

        project.run_django("""
            from celeriac.contrib.django.beat.models import PeriodicTask
            task = PeriodicTask.objects.get(name="db-interval")
            task.enabled = False
            task.save()
        """)
        wait_until(lambda: "db-interval removed or disabled" in beat.log() + standby.log(),
                   timeout=60)
        sent_before = (beat.log() + standby.log()).count("Sending due task db-interval")
        project.run_django("""
            from datetime import timedelta
            from django.utils import timezone
            from celeriac.contrib.django.beat.models import (
                ClockedSchedule, IntervalSchedule, PeriodicTask)
            every = IntervalSchedule.objects.get(every=1, period="seconds")
            PeriodicTask.objects.create(name="db-once", task=TASK, interval=every,
                                        one_off=True, args='["once"]')
            moment = ClockedSchedule.objects.create(
                clocked_time=timezone.now() - timedelta(seconds=1))
            PeriodicTask.objects.create(name="db-clocked", task=TASK, clocked=moment,
                                        one_off=True, args='["clocked"]')
        """.replace("TASK", repr(f"{project.package}.record")))
        wait_until(lambda: {"once", "clocked"} <= set(project.runs()), timeout=60)
        wait_until(lambda: not _rows(project)["db-once"]["enabled"], timeout=60)
        wait_until(lambda: not _rows(project)["db-clocked"]["enabled"], timeout=60)
        project.run_django("""
            from django.contrib.auth.models import User
            from django.test import Client
            from celeriac.contrib.django.beat.models import PeriodicTask
            task = PeriodicTask.objects.get(name="db-interval")
            task.args = '["manual"]'
            task.save()
            client = Client()
            client.force_login(User.objects.create_superuser("root", "r@example.com", "pw"))
            response = client.post("/admin/django_celery_beat/periodictask/", {
                "action": "run_tasks", "_selected_action": [str(task.pk)]})
            assert response.status_code == 302, response.status_code
        """)
        wait_until(lambda: "manual" in project.runs(), timeout=60)  # admin's "run now"
        rows = _rows(project)
        logs = beat.log() + standby.log()

    runs = project.runs()
    assert runs.count("once") == 1 and runs.count("clocked") == 1, runs
    assert logs.count("Sending due task db-interval") == sent_before, "disabled task still sent"
    assert not rows["db-interval"]["enabled"]
    assert logs.count("is now the active scheduler") == 1, "two beats sent at once"
    assert "max interval 5.0 s" in logs, "not django-celery-beat's 5 s loop"
    assert rows["from-settings"]["enabled"] and rows["from-settings"]["runs"] == 0


def test_admin_changelist_and_actions(project: BeatProject) -> None:
    out = project.run_django("""
        from django.contrib.auth.models import User
        from django.test import Client
        from celeriac.contrib.django.beat.models import (
            CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks)

        admin = User.objects.create_superuser("root", "root@example.com", "pw")
        every = IntervalSchedule.objects.create(every=5, period="minutes")
        cron = CrontabSchedule.objects.create(minute="30", hour="4", timezone="Europe/Paris")
        task = PeriodicTask.objects.create(name="nightly-report", task="app.report",
                                           interval=every)
        PeriodicTask.objects.create(name="cron-report", task="app.report", crontab=cron)
        client = Client()
        client.force_login(admin)
        base = "/admin/django_celery_beat/"
        for page in ("periodictask/", f"periodictask/{task.pk}/change/", "crontabschedule/",
                     f"crontabschedule/{cron.pk}/change/", "intervalschedule/",
                     "solarschedule/", "clockedschedule/", "periodictask/add/"):
            response = client.get(base + page)
            assert response.status_code == 200, (page, response.status_code)
        listing = client.get(base + "periodictask/").content.decode()
        assert "nightly-report" in listing and "cron-report" in listing, listing
        assert TASK in client.get(base + "periodictask/add/").content.decode()
        response = client.post(base + "periodictask/add/", {
            "name": "from-form", "regtask": TASK, "task": "", "enabled": "on",
            "interval": str(every.pk), "args": '[1]', "kwargs": "{}", "headers": "{}"})
        assert response.status_code == 302, response.content.decode()
        assert PeriodicTask.objects.get(name="from-form").task == TASK
        response = client.post(base + "periodictask/add/", {
            "name": "no-task", "interval": str(every.pk), "args": "[", "kwargs": "{}"})
        assert response.status_code == 200 and "Need name of task" in response.content.decode()
        assert "Unable to parse JSON" in response.content.decode()
        marker = PeriodicTasks.last_change()
        response = client.post(base + "periodictask/", {
            "action": "disable_tasks", "_selected_action": [str(task.pk)]})
        assert response.status_code == 302, response.status_code
        assert not PeriodicTask.objects.get(pk=task.pk).enabled
        assert PeriodicTasks.last_change() > marker
        print("ADMIN OK")
    """.replace("TASK", repr(f"{project.package}.record")))
    assert "ADMIN OK" in out


def test_database_migrated_by_django_celery_beat_works_unchanged(tmp_path: Path) -> None:
    schema = """
        from django.db import connection
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT table_name, column_name, data_type, character_maximum_length, "
                "is_nullable FROM information_schema.columns "
                "WHERE table_name LIKE 'django_celery_beat_%%' ORDER BY 1, 2")
            for row in cursor.fetchall():
                print("COL", *row)
            cursor.execute(
                "SELECT conrelid::regclass::text, contype, "
                "array_to_string(array(SELECT attname FROM pg_attribute WHERE "
                "attrelid = conrelid AND attnum = ANY(conkey) ORDER BY attname), ',') "
                "FROM pg_constraint WHERE conrelid::regclass::text LIKE 'django_celery_beat_%%' "
                "ORDER BY 1, 2, 3")
            for row in cursor.fetchall():
                print("CON", *row)
    """
    with postgres_database("beatold") as old_db, postgres_database("beatnew") as new_db:
        old = write_project(tmp_path / "old", unique_name("beatold"), old_db,
                            beat_app="django_celery_beat")
        old.manage("migrate", "-v", "0")
        old.run_django("""
            from django_celery_beat.models import CrontabSchedule, PeriodicTask
            cron = CrontabSchedule.objects.create(minute="15", hour="3", timezone="Asia/Tokyo")
            PeriodicTask.objects.create(name="legacy", task="app.legacy", crontab=cron,
                                        kwargs='{"x": 1}', queue="slow", priority=3)
        """)
        legacy_schema = old.run_django(schema)

        switched = write_project(tmp_path / "switched", old.package, old_db)
        assert "No migrations to apply" in switched.manage("migrate")
        out = switched.run_django("""
            from celeriac.contrib.django.beat.entries import entry_from_row
            from celeriac.contrib.django.beat.models import PeriodicTask
            entry = entry_from_row(PeriodicTask.objects.enabled().get(name="legacy"))
            print("ENTRY", entry.task, entry.kwargs, entry.options["queue"],
                  entry.options["priority"], entry.schedule.tz, entry.schedule.hour,
                  entry.schedule.minute)
        """)
        assert "ENTRY app.legacy {'x': 1} slow 3 Asia/Tokyo {3} {15}" in out, out

        fresh = write_project(tmp_path / "fresh", unique_name("beatnew"), new_db)
        fresh.manage("migrate", "-v", "0")
        fresh.manage("makemigrations", "django_celery_beat", "--check", "--dry-run")
        assert fresh.run_django(schema) == legacy_schema
        assert "0019_alter_periodictasks_options" in fresh.run_django("""
            from django.db.migrations.recorder import MigrationRecorder
            print(sorted(MigrationRecorder.Migration.objects.filter(
                app="django_celery_beat").values_list("name", flat=True)))
        """)


def test_rows_become_entries_with_the_right_times(project: BeatProject) -> None:
    """Crontab in its own zone, start time, expiry and one-off rules, on a fixed clock."""
    out = project.run_django("""
        from datetime import datetime, timedelta, timezone as dt_timezone
        from celeriac.beat.entry import ScheduleContext, bind_schedule
        from celeriac.contrib.django.beat.entries import entry_from_row
        from celeriac.contrib.django.beat.models import (
            CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule)

        utc = dt_timezone.utc
        now = datetime(2026, 7, 1, 1, 0, tzinfo=utc)            # 03:00 in Paris (CEST)
        context = ScheduleContext(utc, lambda: now)

        def entry(name):
            made = entry_from_row(PeriodicTask.objects.enabled().get(name=name))
            made.schedule = bind_schedule(made.schedule, context)
            return made

        cron = CrontabSchedule.objects.create(minute="30", hour="4", timezone="Europe/Paris")
        PeriodicTask.objects.create(name="paris", task="t", crontab=cron)
        paris = entry("paris")
        paris.last_run_at = now - timedelta(minutes=1)
        due, wait = paris.is_due()
        assert not due and wait == 90 * 60, (due, wait)   # 04:30 Paris = 02:30 UTC

        hourly = IntervalSchedule.objects.create(every=1, period="hours")
        PeriodicTask.objects.create(name="later", task="t", interval=hourly,
                                    start_time=now + timedelta(minutes=10))
        later = entry("later")
        assert later.is_due() == (False, 600.0), later.is_due()
        assert later.last_run_at < now - timedelta(days=365 * 29)  # due as soon as it starts

        PeriodicTask.objects.create(name="expired", task="t", interval=hourly,
                                    expires=now - timedelta(seconds=1))
        assert entry("expired").is_due()[0] is False
        assert not PeriodicTask.objects.get(name="expired").enabled

        PeriodicTask.objects.create(name="once", task="t", interval=hourly, one_off=True)
        once = entry("once")
        once.last_run_at = now - timedelta(hours=2)
        assert once.is_due()[0] is True
        once.total_run_count = 1
        assert once.is_due()[0] is False
        assert not PeriodicTask.objects.get(name="once").enabled

        dawn = SolarSchedule.objects.create(event="sunrise", latitude=48.85, longitude=2.35)
        PeriodicTask.objects.create(name="sunrise", task="t", solar=dawn)
        sunrise = entry("sunrise")
        sunrise.last_run_at = now
        wait = sunrise.schedule.remaining_estimate(now)
        assert timedelta(hours=2) < wait < timedelta(hours=4), wait  # ~04:50 UTC in Paris
        print("TIMES OK")
    """)
    assert "TIMES OK" in out


def test_run_state_round_trips_without_use_tz(tmp_path: Path) -> None:
    """``USE_TZ = False``: beat's aware times go in as naive ``TIME_ZONE`` times and come back."""
    with postgres_database("beatnaive") as database:
        proj = write_project(tmp_path, unique_name("beatnaive"), database,
                             extra_settings='USE_TZ = False\nTIME_ZONE = "Asia/Tokyo"\n')
        proj.manage("migrate", "-v", "0")
        out = proj.run_django("""
            from datetime import datetime, timezone
            from celeriac.beat.store import EntryState
            from celeriac.contrib.django.beat.entries import entry_from_row
            from celeriac.contrib.django.beat.models import IntervalSchedule, PeriodicTask
            from celeriac.contrib.django.beat.schedulers import DatabaseRunStateStore

            every = IntervalSchedule.objects.create(every=10, period="seconds")
            PeriodicTask.objects.create(name="naive", task="t", interval=every)
            ran = datetime(2026, 5, 1, 12, 0, tzinfo=timezone.utc)
            store = DatabaseRunStateStore()
            store.save({"naive": EntryState(ran, 4)})
            assert store.load()["naive"] == EntryState(ran, 4), store.load()
            row = PeriodicTask.objects.get(name="naive")
            assert row.last_run_at == datetime(2026, 5, 1, 21, 0), row.last_run_at
            assert entry_from_row(row).last_run_at == ran
            print("NAIVE OK")
        """)
        assert "NAIVE OK" in out


def test_worker_beat_takes_the_scheduler_from_the_setting(tmp_path: Path) -> None:
    """``CELERY_BEAT_SCHEDULER`` with django-celery-beat's path, beat embedded in a worker."""
    with postgres_database("beatembed") as database:
        proj = write_project(
            tmp_path, unique_name("beatembed"), database,
            extra_settings='CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:'
                           'DatabaseScheduler"\n')
        proj.manage("migrate", "-v", "0")
        with running_worker(proj.root, "-A", proj.package, "worker", "-B", "--pool", "solo",
                            "-s", str(tmp_path / "schedule"), "--loglevel", "INFO",
                            env=proj.env) as worker:
            wait_until(lambda: "is now the active scheduler" in worker.log(), timeout=60)
            proj.run_django("""
                from celeriac.contrib.django.beat.models import IntervalSchedule, PeriodicTask
                every = IntervalSchedule.objects.create(every=1, period="seconds")
                PeriodicTask.objects.create(name="embedded", task=TASK, interval=every,
                                            args='["embedded"]')
            """.replace("TASK", repr(f"{proj.package}.record")))
            wait_until(lambda: "embedded" in proj.runs(), timeout=60)
            assert "ignoring beat_scheduler" not in worker.log()
