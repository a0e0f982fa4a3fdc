"""The database beat schedule: ``django-celery-beat``'s models, admin and tables, run by
celeriac's beat.

Add ``"celeriac.contrib.django.beat"`` to ``INSTALLED_APPS`` (in place of
``"django_celery_beat"``; the app label, tables and migration history are the same, so an
existing database keeps its schedules) and start beat with
``--scheduler django_celery_beat.schedulers:DatabaseScheduler`` (the name Celery users already
have; celeriac resolves it to :class:`~celeriac.contrib.django.beat.schedulers.DatabaseScheduler`)
or ``celeriac.contrib.django.beat.schedulers:DatabaseScheduler``.
"""
