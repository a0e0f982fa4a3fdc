"""The memcached and file entries of the result-store contract (``conftest.py`` registers them).

Memcached: each test's ``namespace`` becomes a ``global_keyprefix`` on the suite's private
memcached (``tests/memcached_server.py``), so tests never see each other's keys; memcached
cannot list keys, so nothing is deleted: the server dies with the session. Files: a
directory under the test's ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from celeriac.backends.filesystem import FilesystemBackend
from celeriac.backends.memcached import MemcachedBackend
from tests.memcached_server import require_suite_memcached


def memcached_backend(env: Any) -> MemcachedBackend:
    """Contract factory: ``env`` is the conftest's ``ContractEnv``."""
    server = require_suite_memcached()
    options = env.backend_options
    keyvalue = dataclasses.replace(options.keyvalue, global_keyprefix=f"{env.namespace}:")
    return MemcachedBackend.from_url(server.url(),
                                     dataclasses.replace(options, keyvalue=keyvalue))


def file_backend(env: Any) -> FilesystemBackend:
    directory = env.tmp_path / "results"
    directory.mkdir(exist_ok=True)
    return FilesystemBackend.from_url(f"file://{directory}", env.backend_options)


#: kind -> (store class, factory, runs the whole contract).
BACKEND_FACTORIES: dict[str, tuple[type[Any], Callable[[Any], Any], bool]] = {
    "memcached": (MemcachedBackend, memcached_backend, True),
    "file": (FilesystemBackend, file_backend, True),
}

__all__ = ["BACKEND_FACTORIES", "file_backend", "memcached_backend"]
