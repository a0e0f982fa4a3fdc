"""celeriac.beat: periodic task scheduling (schedule types, the scheduler, its run-state store).

The schedule types are imported from ``celeriac.schedules`` (the ``celery.schedules`` compat
path, the one place that lists them) or from their own modules here.
"""
