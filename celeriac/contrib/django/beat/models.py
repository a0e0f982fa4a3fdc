# mypy: disable-error-code="misc"
# (Django ships no type information here, so its base classes are Any to mypy.)
"""django-celery-beat's models, column for column, with celeriac's schedule classes behind them.

Each schedule model's ``schedule`` property gives the celeriac schedule beat evaluates
(:mod:`celeriac.beat.interval`, :mod:`~celeriac.beat.crontab`, :mod:`~celeriac.beat.solar`,
:mod:`~celeriac.contrib.django.beat.clocked`). :class:`PeriodicTasks` is the one-row change
marker: every save or delete of a task or a schedule moves ``last_update``, and beat reloads
the table when it moves (see :mod:`celeriac.contrib.django.beat.schedulers`). Writes that
should not make beat reload (beat's own run-state updates) use ``QuerySet.update``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from celeriac.beat.base import BaseSchedule
from celeriac.beat.crontab import crontab
from celeriac.beat.interval import schedule as interval_schedule
from celeriac.beat.solar import solar
from celeriac.contrib.django.beat import validators
from celeriac.contrib.django.beat.clocked import clocked
from celeriac.contrib.django.beat.fields import TimeZoneField, zone_name

DAYS, HOURS, MINUTES, SECONDS, MICROSECONDS = (
    "days", "hours", "minutes", "seconds", "microseconds")
PERIOD_CHOICES = [(DAYS, "Days"), (HOURS, "Hours"), (MINUTES, "Minutes"),
                  (SECONDS, "Seconds"), (MICROSECONDS, "Microseconds")]
SOLAR_SCHEDULES = [
    ("dawn_astronomical", "Astronomical dawn"), ("dawn_civil", "Civil dawn"),
    ("dawn_nautical", "Nautical dawn"), ("dusk_astronomical", "Astronomical dusk"),
    ("dusk_civil", "Civil dusk"), ("dusk_nautical", "Nautical dusk"),
    ("solar_noon", "Solar noon"), ("sunrise", "Sunrise"), ("sunset", "Sunset"),
]
ONE_SCHEDULE = "Set only one schedule type, leave the others null."


def crontab_schedule_celery_timezone() -> str:
    """A new crontab's zone: the ``CELERY_TIMEZONE`` setting when valid, else UTC."""
    zone = getattr(settings, "CELERY_TIMEZONE", None)
    return zone if zone in available_timezones() else "UTC"


def cronexp(field: Any) -> str:
    return (field and str(field).replace(" ", "")) or "*"


class SolarSchedule(models.Model):
    """Run at a solar event (sunrise, dusk, ...) at a place."""

    event = models.CharField(max_length=24, choices=SOLAR_SCHEDULES, verbose_name="Solar Event",
                             help_text="The type of solar event when the job should run")
    latitude = models.DecimalField(
        max_digits=9, decimal_places=6, verbose_name="Latitude",
        help_text="Run the task when the event happens at this latitude",
        validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.DecimalField(
        max_digits=9, decimal_places=6, verbose_name="Longitude",
        help_text="Run the task when the event happens at this longitude",
        validators=[MinValueValidator(-180), MaxValueValidator(180)])

    class Meta:
        verbose_name = "solar event"
        verbose_name_plural = "solar events"
        ordering = ("event", "latitude", "longitude")
        unique_together = ("event", "latitude", "longitude")

    @property
    def schedule(self) -> BaseSchedule:
        return solar(self.event, float(self.latitude), float(self.longitude))

    def __str__(self) -> str:
        return f"{self.get_event_display()} ({self.latitude}, {self.longitude})"


class IntervalSchedule(models.Model):
    """Run every ``every`` ``period`` (e.g. every 2 days)."""

    DAYS, HOURS, MINUTES, SECONDS, MICROSECONDS = DAYS, HOURS, MINUTES, SECONDS, MICROSECONDS
    PERIOD_CHOICES = PERIOD_CHOICES

    every = models.IntegerField(
        verbose_name="Number of Periods", validators=[MinValueValidator(1)],
        help_text="Number of interval periods to wait before running the task again")
    period = models.CharField(max_length=24, choices=PERIOD_CHOICES,
                              verbose_name="Interval Period",
                              help_text="The type of period between task runs (Example: days)")

    class Meta:
        verbose_name = "interval"
        verbose_name_plural = "intervals"
        ordering = ("period", "every")

    @property
    def schedule(self) -> BaseSchedule:
        return interval_schedule(timedelta(**{self.period: self.every}))

    @property
    def period_singular(self) -> str:
        return str(self.period)[:-1]

    def __str__(self) -> str:
        if self.every == 1:
            return f"every {self.period_singular}"
        return f"every {self.every} {self.period}"


class ClockedSchedule(models.Model):
    """Run once at ``clocked_time`` (the task must be one-off)."""

    clocked_time = models.DateTimeField(verbose_name="Clock Time",
                                        help_text="Run the task at clocked time")

    class Meta:
        verbose_name = "clocked"
        verbose_name_plural = "clocked"
        ordering = ("clocked_time",)

    @property
    def schedule(self) -> BaseSchedule:
        return clocked(self.clocked_time)

    def __str__(self) -> str:
        return f"{self.clocked_time}"


def _cron_field(max_length: int, label: str, help_text: str, validator: Any) -> Any:
    """One of the five cron columns (django-celery-beat's lengths fit every value listed)."""
    return models.CharField(max_length=max_length, default="*", verbose_name=label,
                            help_text=f"Cron {help_text}", validators=[validator])


class CrontabSchedule(models.Model):
    """A cron line with its own time zone."""

    minute = _cron_field(240, "Minute(s)", 'Minutes to Run. Use "*" for "all". (Example: "0,30")',
                         validators.minute_validator)
    hour = _cron_field(96, "Hour(s)", 'Hours to Run. Use "*" for "all". (Example: "8,20")',
                       validators.hour_validator)
    day_of_month = _cron_field(
        124, "Day(s) Of The Month",
        'Days Of The Month to Run. Use "*" for "all". (Example: "1,15")',
        validators.day_of_month_validator)
    month_of_year = _cron_field(
        64, "Month(s) Of The Year",
        'Months (1-12) Of The Year to Run. Use "*" for "all". (Example: "1,12")',
        validators.month_of_year_validator)
    day_of_week = _cron_field(
        64, "Day(s) Of The Week",
        'Days Of The Week to Run. Use "*" for "all", Sunday is 0 or 7, Monday is 1. '
        '(Example: "0,5")',
        validators.day_of_week_validator)
    timezone = TimeZoneField(default=crontab_schedule_celery_timezone,
                             verbose_name="Cron Timezone",
                             help_text="Timezone to Run the Cron Schedule on. Default is UTC.")

    class Meta:
        verbose_name = "crontab"
        verbose_name_plural = "crontabs"
        ordering = ("month_of_year", "day_of_month", "day_of_week", "hour", "minute",
                    "timezone")

    @property
    def schedule(self) -> BaseSchedule:
        """The crontab, read in its own zone (``DJANGO_CELERY_BEAT_TZ_AWARE = False``: the
        app's zone, as django-celery-beat)."""
        tz_aware = getattr(settings, "DJANGO_CELERY_BEAT_TZ_AWARE", True)
        return crontab(minute=self.minute, hour=self.hour, day_of_week=self.day_of_week,
                       day_of_month=self.day_of_month, month_of_year=self.month_of_year,
                       tz=self.timezone if tz_aware else None)

    @property
    def human_readable(self) -> str:
        return f"{self.cron_line} {zone_name(self.timezone)}"

    @property
    def cron_line(self) -> str:
        return " ".join(cronexp(part) for part in (
            self.minute, self.hour, self.day_of_month, self.month_of_year, self.day_of_week))

    def __str__(self) -> str:
        return f"{self.cron_line} (m/h/dM/MY/d) {zone_name(self.timezone)}"


class PeriodicTasks(models.Model):
    """The change marker: one row (``ident=1``) whose ``last_update`` moves on every change."""

    ident = models.SmallIntegerField(default=1, primary_key=True, unique=True)
    last_update = models.DateTimeField()

    class Meta:
        verbose_name = "periodic task track"
        verbose_name_plural = "periodic task tracks"

    @classmethod
    def changed(cls, instance: Any = None, **kwargs: Any) -> None:
        if not getattr(instance, "no_changes", False):
            cls.update_changed()

    @classmethod
    def update_changed(cls, **kwargs: Any) -> None:
        cls.objects.update_or_create(ident=1, defaults={"last_update": timezone.now()})

    @classmethod
    def last_change(cls) -> Any:
        row = cls.objects.filter(ident=1).values_list("last_update", flat=True).first()
        return row


class PeriodicTaskQuerySet(models.QuerySet):
    def enabled(self) -> Any:
        return self.filter(enabled=True).select_related(
            "interval", "crontab", "solar", "clocked")


SCHEDULE_FIELDS = ("interval", "crontab", "solar", "clocked")


def _schedule_link(model: Any, kind: str) -> Any:
    """A task's optional link to one schedule kind (a task sets exactly one)."""
    return models.ForeignKey(
        model, on_delete=models.CASCADE, null=True, blank=True,
        verbose_name=f"{kind} Schedule",
        help_text=f"{kind} Schedule to run the task on.  {ONE_SCHEDULE}")


class PeriodicTask(models.Model):
    """A task beat sends on one of the four schedules; beat keeps ``last_run_at`` and
    ``total_run_count`` up to date."""

    name = models.CharField(max_length=200, unique=True, verbose_name="Name",
                            help_text="Short Description For This Task")
    task = models.CharField(
        max_length=200, verbose_name="Task Name",
        help_text='The Name of the Celery Task that Should be Run.  '
                  '(Example: "proj.tasks.import_contacts")')
    interval = _schedule_link(IntervalSchedule, "Interval")
    crontab = _schedule_link(CrontabSchedule, "Crontab")
    solar = _schedule_link(SolarSchedule, "Solar")
    clocked = _schedule_link(ClockedSchedule, "Clocked")
    args = models.TextField(
        blank=True, default="[]", verbose_name="Positional Arguments",
        help_text='JSON encoded positional arguments (Example: ["arg1", "arg2"])')
    kwargs = models.TextField(
        blank=True, default="{}", verbose_name="Keyword Arguments",
        help_text='JSON encoded keyword arguments (Example: {"argument": "value"})')
    queue = models.CharField(
        max_length=200, blank=True, null=True, default=None, verbose_name="Queue Override",
        help_text="Queue defined in CELERY_TASK_QUEUES. Leave None for default queuing.")
    exchange = models.CharField(max_length=200, blank=True, null=True, default=None,
                                verbose_name="Exchange",
                                help_text="Override Exchange for low-level AMQP routing")
    routing_key = models.CharField(max_length=200, blank=True, null=True, default=None,
                                   verbose_name="Routing Key",
                                   help_text="Override Routing Key for low-level AMQP routing")
    headers = models.TextField(blank=True, default="{}", verbose_name="AMQP Message Headers",
                               help_text="JSON encoded message headers for the AMQP message.")
    priority = models.PositiveIntegerField(
        default=None, validators=[MaxValueValidator(255)], blank=True, null=True,
        verbose_name="Priority",
        help_text="Priority Number between 0 and 255. Supported by: RabbitMQ, Redis "
                  "(priority reversed, 0 is highest).")
    expires = models.DateTimeField(
        blank=True, null=True, verbose_name="Expires Datetime",
        help_text="Datetime after which the schedule will no longer trigger the task to run")
    expire_seconds = models.PositiveIntegerField(
        blank=True, null=True, verbose_name="Expires timedelta with seconds",
        help_text="Timedelta with seconds which the schedule will no longer trigger the task "
                  "to run")
    one_off = models.BooleanField(
        default=False, verbose_name="One-off Task",
        help_text="If True, the schedule will only run the task a single time")
    start_time = models.DateTimeField(
        blank=True, null=True, verbose_name="Start Datetime",
        help_text="Datetime when the schedule should begin triggering the task to run")
    enabled = models.BooleanField(default=True, verbose_name="Enabled",
                                  help_text="Set to False to disable the schedule")
    last_run_at = models.DateTimeField(
        editable=False, blank=True, null=True, verbose_name="Last Run Datetime",
        help_text="Datetime that the schedule last triggered the task to run. Reset to None if "
                  "enabled is set to False.")
    total_run_count = models.PositiveIntegerField(
        default=0, editable=False, verbose_name="Total Run Count",
        help_text="Running count of how many times the schedule has triggered the task")
    date_changed = models.DateTimeField(
        auto_now=True, verbose_name="Last Modified",
        help_text="Datetime that this PeriodicTask was last modified")
    description = models.TextField(
        blank=True, verbose_name="Description",
        help_text="Detailed description about the details of this Periodic Task")

    objects = PeriodicTaskQuerySet.as_manager()
    no_changes = False

    class Meta:
        verbose_name = "periodic task"
        verbose_name_plural = "periodic tasks"

    def validate_unique(self, exclude: Any = None) -> None:
        """Exactly one schedule; a clocked task must be one-off (django-celery-beat's rules)."""
        super().validate_unique(exclude)
        chosen = [name for name in SCHEDULE_FIELDS if getattr(self, f"{name}_id") is not None]
        if not chosen:
            raise ValidationError("One of clocked, interval, crontab, or solar must be set.")
        if len(chosen) > 1:
            message = "Only one of clocked, interval, crontab, or solar must be set"
            raise ValidationError({name: [message] for name in chosen})
        if self.clocked_id is not None and not self.one_off:
            raise ValidationError("clocked must be one off, one_off must set True")

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.exchange = self.exchange or None
        self.routing_key = self.routing_key or None
        self.queue = self.queue or None
        self.headers = self.headers or None
        if not self.enabled:
            self.last_run_at = None
        if self.expire_seconds is not None and self.expires:
            raise ValidationError("Only one can be set, in expires and expire_seconds")
        self.validate_unique()
        super().save(*args, **kwargs)
        PeriodicTasks.changed(self)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        result = super().delete(*args, **kwargs)
        PeriodicTasks.changed(self)
        return result

    @property
    def expires_(self) -> Any:
        return self.expires or self.expire_seconds

    @property
    def scheduler(self) -> Any:
        """The schedule row this task uses (interval, crontab, solar or clocked)."""
        for name in SCHEDULE_FIELDS:
            row = getattr(self, name)
            if row is not None:
                return row
        return None

    @property
    def schedule(self) -> BaseSchedule:
        return self.scheduler.schedule  # type: ignore[no-any-return]

    def __str__(self) -> str:
        row = self.scheduler
        return f"{self.name}: {row if row is not None else '{no schedule}'}"


def connect_change_signals() -> None:
    """Move the change marker when a schedule row is saved or deleted (tasks do it in
    ``save``/``delete``), as django-celery-beat's signal handlers do."""
    from django.db.models import signals

    for model in (IntervalSchedule, CrontabSchedule, SolarSchedule, ClockedSchedule):
        signals.post_save.connect(PeriodicTasks.update_changed, sender=model,
                                  dispatch_uid=f"celeriac-beat-save-{model.__name__}")
        signals.post_delete.connect(PeriodicTasks.update_changed, sender=model,
                                    dispatch_uid=f"celeriac-beat-delete-{model.__name__}")
    signals.pre_delete.connect(PeriodicTasks.changed, sender=PeriodicTask,
                               dispatch_uid="celeriac-beat-delete-PeriodicTask")
