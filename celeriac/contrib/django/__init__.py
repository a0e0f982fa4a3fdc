"""Django support: the fix-up the worker applies when ``DJANGO_SETTINGS_MODULE`` is set, and
two Django apps sharing the tables of the packages Celery users have installed:

* ``celeriac.contrib.django.results``: the ``django-db`` and ``django-cache`` result stores, on
  ``django-celery-results``' tables (app label ``django_celery_results``);
* ``celeriac.contrib.django.beat``: the database beat scheduler, on ``django-celery-beat``'s
  tables (app label ``django_celery_beat``).

Keeping those app labels, tables and migration names lets a project switch packages and keep its
stored results, schedules and admin pages.
"""
