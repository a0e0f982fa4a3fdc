"""``django-celery-results``' models, field for field (its tables, columns, indexes, names and
help texts), so the migration state of the two apps is one and the same.

``DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH`` is honoured as that package honours it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from celeriac import states

_ID_LENGTH = getattr(settings, "DJANGO_CELERY_RESULTS_TASK_ID_MAX_LENGTH", 255)


def _id_field(what: str) -> Any:
    return models.CharField(max_length=_ID_LENGTH, unique=True, verbose_name=_(f"{what} ID"),
                            help_text=_(f"Celery ID for the {what} that was run"))


def _created_field(what: str) -> Any:
    return models.DateTimeField(
        auto_now_add=True, verbose_name=_("Created DateTime"),
        help_text=_(f"Datetime field when the {what} result was created in UTC"))


def _done_field(what: str) -> Any:
    return models.DateTimeField(
        auto_now=True, verbose_name=_("Completed DateTime"),
        help_text=_(f"Datetime field when the {what} was completed in UTC"))


def _content_fields() -> tuple[Any, Any, Any]:
    """``content_type``, ``content_encoding`` and ``result``, alike in both result tables."""
    return (
        models.CharField(max_length=128, verbose_name=_("Result Content Type"),
                         help_text=_("Content type of the result data")),
        models.CharField(max_length=64, verbose_name=_("Result Encoding"),
                         help_text=_("The encoding used to save the task result data")),
        models.TextField(null=True, default=None, editable=False, verbose_name=_("Result Data"),
                         help_text=_("The data returned by the task.  "
                                     "Use content_encoding and content_type fields to read.")),
    )


class TaskResult(models.Model):  # type: ignore[misc]
    """One task's stored state (a row per task id)."""

    task_id = _id_field("Task")
    periodic_task_name = models.CharField(
        null=True, max_length=255, verbose_name=_("Periodic Task Name"),
        help_text=_("Name of the Periodic Task which was run"))
    task_name = models.CharField(
        null=True, max_length=_ID_LENGTH, verbose_name=_("Task Name"),
        help_text=_("Name of the Task which was run"))
    task_args = models.TextField(
        null=True, verbose_name=_("Task Positional Arguments"),
        help_text=_("JSON representation of the positional arguments used with the task"))
    task_kwargs = models.TextField(
        null=True, verbose_name=_("Task Named Arguments"),
        help_text=_("JSON representation of the named arguments used with the task"))
    status = models.CharField(
        max_length=50, default=states.PENDING, verbose_name=_("Task State"),
        help_text=_("Current state of the task being run"))
    worker = models.CharField(
        max_length=100, default=None, null=True, verbose_name=_("Worker"),
        help_text=_("Worker that executes the task"))
    content_type, content_encoding, result = _content_fields()
    date_created = _created_field("task")
    date_started = models.DateTimeField(
        null=True, default=None, verbose_name=_("Started DateTime"),
        help_text=_("Datetime field when the task was started in UTC"))
    date_done = _done_field("task")
    traceback = models.TextField(
        blank=True, null=True, verbose_name=_("Traceback"),
        help_text=_("Text of the traceback if the task generated one"))
    meta = models.TextField(
        null=True, default=None, editable=False, verbose_name=_("Task Meta Information"),
        help_text=_("JSON meta information about the task, such as information on child tasks"))

    class Meta:
        ordering = ["-date_done"]  # noqa: RUF012 - a list, as in the migration state
        verbose_name = _("task result")
        verbose_name_plural = _("task results")
        # The names django-celery-results gave them (Django ticket 33483).
        indexes = [  # noqa: RUF012 - Django reads Meta, never mutates it
            models.Index(fields=["task_name"], name="django_cele_task_na_08aec9_idx"),
            models.Index(fields=["status"], name="django_cele_status_9b6201_idx"),
            models.Index(fields=["worker"], name="django_cele_worker_d54dd8_idx"),
            models.Index(fields=["date_created"], name="django_cele_date_cr_f04a50_idx"),
            models.Index(fields=["date_done"], name="django_cele_date_do_f59aad_idx"),
            models.Index(fields=["periodic_task_name"], name="django_cele_periodi_1993cf_idx"),
        ]

    def __str__(self) -> str:
        return f"<Task: {self.task_id} ({self.status})>"


class ChordCounter(models.Model):  # type: ignore[misc]
    """A chord waiting for its header: ``count`` header tasks still to finish."""

    group_id = models.CharField(
        max_length=_ID_LENGTH, unique=True, verbose_name=_("Group ID"),
        help_text=_("Celery ID for the Chord header group"))
    sub_tasks = models.TextField(
        help_text=_("JSON serialized list of task result tuples. "
                    "use .group_result() to decode"))
    count = models.PositiveIntegerField(
        help_text=_("Starts at len(chord header) and decrements after each task is finished"))

    def __str__(self) -> str:
        return f"<ChordCounter: {self.group_id} ({self.count} to go)>"


class GroupResult(models.Model):  # type: ignore[misc]
    """A saved group: its members' ids (``GroupResult.save()``)."""

    group_id = _id_field("Group")
    date_created = _created_field("group")
    date_done = _done_field("group")
    content_type, content_encoding, result = _content_fields()

    class Meta:
        ordering = ["-date_done"]  # noqa: RUF012 - a list, as in the migration state
        verbose_name = _("group result")
        verbose_name_plural = _("group results")
        indexes = [  # noqa: RUF012 - Django reads Meta, never mutates it
            models.Index(fields=["date_created"], name="django_cele_date_cr_bd6c1d_idx"),
            models.Index(fields=["date_done"], name="django_cele_date_do_caae0e_idx"),
        ]

    def __str__(self) -> str:
        return f"<Group: {self.group_id}>"
