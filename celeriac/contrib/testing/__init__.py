"""Celery's ``celery.contrib.testing``: test apps, an in-process worker, mocks and helpers
for test suites (``celeriac.contrib.pytest`` builds its fixtures on them)."""
