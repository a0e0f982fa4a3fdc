"""Signal receivers a worker loads through ``celery_includes`` (Celery's docs do the same)."""

from celeriac.signals import task_postrun

#: (task name, state) of every task run, in order.
finished = []


@task_postrun.connect
def remember(sender=None, task=None, state=None, **kwargs):
    finished.append((task.name, state))
