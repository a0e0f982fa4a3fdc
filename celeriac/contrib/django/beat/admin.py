# mypy: disable-error-code="misc, untyped-decorator"
# (Django ships no type information here, so its base classes are Any to mypy.)
"""Admin pages for the schedule, as django-celery-beat has them.

Periodic tasks: list with enabled flag, schedule, start time, last run and one-off; actions to
enable, disable, toggle and run the selected tasks now. The schedule models each get a page
listing the tasks that use them. "Run now" sends through celeriac's current app
(``send_task`` by name, with the task's arguments, queue and the ``periodic_task_name``
header), so it works without the task being importable in the web process.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, QuerySet, Value, When
from django.http import HttpRequest

from celeriac.contrib.django.beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
    SolarSchedule,
)


def registered_task_choices() -> list[tuple[str, str]]:
    """The task names of celeriac's current app (after importing its task modules), for the
    "Task (registered)" select; Celery's own ``celery.*`` tasks are left out."""
    from celeriac import current_app

    current_app.loader_import_modules()
    names = sorted(name for name in current_app.tasks if not name.startswith("celery."))
    return [("", ""), *((name, name) for name in names)]


class PeriodicTaskForm(forms.ModelForm):
    """The task form: a registered task picked from a list or a name typed in, and
    ``args``/``kwargs``/``headers`` that must be JSON."""

    regtask = forms.ChoiceField(label="Task (registered)", required=False,
                                choices=registered_task_choices)
    task = forms.CharField(label="Task (custom)", required=False, max_length=200)

    class Meta:
        model = PeriodicTask
        exclude = ()

    def clean(self) -> Any:
        data = super().clean()
        if data.get("regtask"):
            data["task"] = data["regtask"]
        if not data.get("task"):
            self.add_error("task", "Need name of task")
        return data

    def _clean_json(self, field: str) -> Any:
        value = self.cleaned_data[field]
        try:
            json.loads(value or ("[]" if field == "args" else "{}"))
        except ValueError as exc:
            raise forms.ValidationError(f"Unable to parse JSON: {exc}") from exc
        return value

    def clean_args(self) -> Any:
        return self._clean_json("args")

    def clean_kwargs(self) -> Any:
        return self._clean_json("kwargs")

    def clean_headers(self) -> Any:
        return self._clean_json("headers")


@admin.register(PeriodicTask)
class PeriodicTaskAdmin(admin.ModelAdmin):
    form = PeriodicTaskForm
    date_hierarchy = "start_time"
    list_display = ("name", "enabled", "scheduler", "interval", "start_time", "last_run_at",
                    "one_off")
    list_filter = ("enabled", "one_off", "task", "start_time", "last_run_at")
    actions = ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks")
    search_fields = ("name", "task")
    readonly_fields = ("last_run_at", "total_run_count")
    fieldsets = (
        (None, {"fields": ("name", "regtask", "task", "enabled", "description"),
                "classes": ("extrapretty", "wide")}),
        ("Schedule", {"fields": ("interval", "crontab", "solar", "clocked", "start_time",
                                 "last_run_at", "total_run_count", "one_off"),
                      "classes": ("extrapretty", "wide")}),
        ("Arguments", {"fields": ("args", "kwargs"),
                       "classes": ("extrapretty", "wide", "collapse", "in")}),
        ("Execution Options", {"fields": ("expires", "expire_seconds", "queue", "exchange",
                                          "routing_key", "priority", "headers"),
                               "classes": ("extrapretty", "wide", "collapse", "in")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodicTask]:
        return super().get_queryset(request).select_related(
            "interval", "crontab", "solar", "clocked")

    def _updated(self, request: HttpRequest, count: int, verb: str) -> None:
        PeriodicTasks.update_changed()
        noun = "task was" if count == 1 else "tasks were"
        self.message_user(request, f"{count} {noun} successfully {verb}")

    @admin.action(description="Enable selected tasks")
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._updated(request, queryset.update(enabled=True), "enabled")

    @admin.action(description="Disable selected tasks")
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        self._updated(request, queryset.update(enabled=False, last_run_at=None), "disabled")

    @admin.action(description="Toggle activity of selected tasks")
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        count = queryset.update(
            enabled=Case(When(enabled=True, then=Value(False)), default=Value(True)))
        self._updated(request, count, "toggled")

    @admin.action(description="Run selected tasks")
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        from celeriac import current_app

        sent = 0
        for task in queryset:
            options: dict[str, Any] = {"headers": {"periodic_task_name": task.name}}
            if task.queue:
                options["queue"] = task.queue
            current_app.send_task(task.task, json.loads(task.args or "[]"),
                                  json.loads(task.kwargs or "{}"), **options)
            sent += 1
        noun = "task was" if sent == 1 else "tasks were"
        self.message_user(request, f"{sent} {noun} successfully run", level=messages.SUCCESS)


class PeriodicTaskInline(admin.TabularInline):
    """The tasks using a schedule, on that schedule's page."""

    model = PeriodicTask
    fields = ("name", "task", "args", "kwargs")
    readonly_fields = fields
    can_delete = False
    extra = 0
    show_change_link = True
    verbose_name = "Periodic Tasks Using This Schedule"
    verbose_name_plural = verbose_name

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ScheduleAdmin(admin.ModelAdmin):
    inlines = (PeriodicTaskInline,)


@admin.register(ClockedSchedule)
class ClockedScheduleAdmin(ScheduleAdmin):
    fields = ("clocked_time",)
    list_display = ("clocked_time",)


@admin.register(CrontabSchedule)
class CrontabScheduleAdmin(ScheduleAdmin):
    list_display = ("__str__", "human_readable")
    fields = ("human_readable", "minute", "hour", "day_of_month", "month_of_year",
              "day_of_week", "timezone")
    readonly_fields = ("human_readable",)


@admin.register(SolarSchedule)
class SolarScheduleAdmin(ScheduleAdmin):
    pass


@admin.register(IntervalSchedule)
class IntervalScheduleAdmin(ScheduleAdmin):
    pass
