"""Result handles: ``AsyncResult`` and ``EagerResult`` (import path ``celeriac.result``)."""
