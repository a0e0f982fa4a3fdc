"""Celery's SQL result store (``db+<SQLAlchemy URL>``), on Celery's own tables.

``result_backend = 'db+postgresql://…'`` (or ``db+mysql+pymysql://…``, ``db+sqlite:///path``,
any SQLAlchemy URL behind ``db+``) keeps results in ``celery_taskmeta`` and groups in
``celery_tasksetmeta``, column for column as Celery's database backend, so an existing Celery
database keeps working and Celery and celeriac read each other's records. Modules:

* ``tables``: Celery's table definitions (and celeriac's chord counter tables);
* ``engine``: the SQLAlchemy engine from the ``database_*`` settings, errors made safe;
* ``values``: how a column value is encoded (``result_serializer``) and read back;
* ``safe_pickle``: reads pickled values of plain builtin types only (legacy rows);
* ``upsert``: insert-if-absent in one statement on each dialect;
* ``store``: the ``SqlBackend`` result store; ``chords``: its chord counter.

Only ``store`` is named by the resolver, so SQLAlchemy is imported when a ``db+`` URL is used.
"""
