# mypy: disable-error-code="misc"
# (Django ships no type information here, so its base classes are Any to mypy.)
"""The Django app config: label ``django_celery_beat``, the label of the package it replaces."""

from __future__ import annotations

from django.apps import AppConfig


class BeatConfig(AppConfig):
    """``celeriac.contrib.django.beat`` under django-celery-beat's label and table names."""

    name = "celeriac.contrib.django.beat"
    label = "django_celery_beat"
    verbose_name = "Periodic Tasks"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        from celeriac.contrib.django.beat.models import connect_change_signals

        connect_change_signals()
