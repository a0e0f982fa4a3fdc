"""The admin pages of ``django-celery-results``: task and group results, read-only unless
``DJANGO_CELERY_RESULTS = {'ALLOW_EDITS': True}``, as that package has them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from celeriac.contrib.django.results.models import GroupResult, TaskResult


def _allow_edits() -> bool:
    options = getattr(settings, "DJANGO_CELERY_RESULTS", None) or {}
    return bool(options.get("ALLOW_EDITS", False))


@admin.register(TaskResult)
class TaskResultAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """Task results: searchable, filtered by state, date, task and worker."""

    model = TaskResult
    date_hierarchy = "date_done"
    list_display = ("task_id", "periodic_task_name", "task_name", "date_done", "status",
                    "worker")
    list_filter = ("status", "date_done", "periodic_task_name", "task_name", "worker")
    readonly_fields = ("date_created", "date_started", "date_done", "result", "meta")
    search_fields = ("task_name", "task_id", "status", "task_args", "task_kwargs")
    fieldsets = (
        (None, {"fields": ("task_id", "task_name", "periodic_task_name", "status", "worker",
                           "content_type", "content_encoding"),
                "classes": ("extrapretty", "wide")}),
        (_("Parameters"), {"fields": ("task_args", "task_kwargs"),
                           "classes": ("extrapretty", "wide")}),
        (_("Result"), {"fields": ("result", "date_created", "date_started", "date_done",
                                  "traceback", "meta"),
                       "classes": ("extrapretty", "wide")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if _allow_edits():
            return self.readonly_fields
        return list({field.name for field in self.opts.local_fields})


@admin.register(GroupResult)
class GroupResultAdmin(admin.ModelAdmin):  # type: ignore[misc]
    """Saved groups."""

    model = GroupResult
    date_hierarchy = "date_done"
    list_display = ("group_id", "date_done")
    list_filter = ("date_done",)
    readonly_fields = ("date_created", "date_done", "result")
    search_fields = ("group_id",)
