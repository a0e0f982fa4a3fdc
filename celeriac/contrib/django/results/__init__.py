"""The ``django-db`` and ``django-cache`` result stores, as a Django app on the tables of
``django-celery-results``.

Add ``'celeriac.contrib.django.results'`` to ``INSTALLED_APPS`` (in place of
``'django_celery_results'``) and set ``result_backend = 'django-db'`` or ``'django-cache'``.
The app keeps that package's app label, tables, columns and migration history (one squashed
migration replacing its 14), so a project switching packages keeps its stored results, its
migration state and its admin pages.

* ``models``, ``admin``, ``migrations``: the schema and the admin pages;
* ``db_store``: ``django-db`` (``DjangoDbBackend``), rows in ``django_celery_results_taskresult``;
* ``db_chords``: its chord counter on the ``ChordCounter`` table;
* ``cache_store``: ``django-cache`` (``DjangoCacheBackend``), Django's cache framework;
* ``columns``: how a value becomes the ``content_type``/``content_encoding``/text columns;
* ``connections``: stale-connection handling shared by both stores.

The stores import Django's lazy handles (``django.db``, ``django.core.cache``) when their
``result_backend`` name is resolved (without Django, that fails with the ``pip install
'celeriac[django]'`` hint) and call ``django.setup()`` when the process has
``DJANGO_SETTINGS_MODULE`` but nobody set Django up yet. Models load only after set-up.
"""
