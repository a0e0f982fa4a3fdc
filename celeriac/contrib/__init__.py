"""Integrations and tools, as Celery's ``celery.contrib`` and ``celery.fixups``: Django,
abortable tasks, the remote debugger, message migration and the Sphinx extension.

Nothing below this package imports it: the app, the stores and beat reach it by name (a
``result_backend`` scheme, a ``beat_scheduler`` path, the Django fix-up), so ``import
celeriac`` never loads a framework (Django, Sphinx).
"""
