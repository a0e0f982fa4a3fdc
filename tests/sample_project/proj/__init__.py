"""A sample project's tasks, written for Celery (only the import names celeriac)."""
