"""The app configuration: ``django-celery-results``' label, so its tables and migration rows
are this app's."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CeleriacResultsConfig(AppConfig):  # type: ignore[misc]
    """``celeriac.contrib.django.results`` under the app label ``django_celery_results``."""

    name = "celeriac.contrib.django.results"
    label = "django_celery_results"
    verbose_name = _("Celery Results")
    default_auto_field = "django.db.models.AutoField"
