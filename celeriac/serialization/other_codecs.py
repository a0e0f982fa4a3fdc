"""The non-default serializers: msgpack, yaml and pickle, byte-compatible with kombu's.

Each codec imports its library when it is constructed, so ``import celeriac`` never pays for
PyYAML or msgpack, and a missing optional package surfaces as ``ImportError`` to the registry,
which turns it into an actionable ``pip install 'celeriac[...]'`` hint.

Wire settings follow kombu 5.x (wire-protocol.md §1.10):

- msgpack: ``packb(use_bin_type=True)`` / ``unpackb(raw=False)``, content encoding ``binary``.
  Like kombu there are no type markers: datetimes and the like cannot be sent with msgpack.
- yaml: ``safe_dump``/``safe_load`` only (never the full loader, which can build arbitrary
  objects), UTF-8. The libyaml C classes are used when PyYAML was built with them.
- pickle: protocol 4 as kombu sends it. Registered so a worker that *explicitly* accepts it can
  talk to Celery peers that use it, but never accepted by default: unpickling runs code.
"""

from __future__ import annotations

import pickle
from typing import Any, Final

__all__ = ["PICKLE_PROTOCOL", "MsgpackCodec", "PickleCodec", "YamlCodec"]

#: kombu's default (``PICKLE_PROTOCOL`` env var aside); readable by every Python >= 3.4.
PICKLE_PROTOCOL: Final = 4


class MsgpackCodec:
    """``application/x-msgpack``: compact binary, same options as kombu's ``register_msgpack``."""

    name: str = "msgpack"
    content_type: str = "application/x-msgpack"
    content_encoding: str = "binary"

    def __init__(self) -> None:
        import msgpack  # optional extra: celeriac[msgpack]

        self._packb = msgpack.packb
        self._unpackb = msgpack.unpackb

    def dumps(self, obj: Any) -> bytes:
        data: bytes = self._packb(obj, use_bin_type=True)
        return data

    def loads(self, data: bytes) -> Any:
        return self._unpackb(data, raw=False)


class YamlCodec:
    """``application/x-yaml``: human-readable, restricted to YAML's safe subset."""

    name: str = "yaml"
    content_type: str = "application/x-yaml"
    content_encoding: str = "utf-8"

    def __init__(self) -> None:
        import yaml  # optional extra: celeriac[yaml]

        self._yaml = yaml
        self._dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        self._loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    def dumps(self, obj: Any) -> bytes:
        text: str = self._yaml.dump(obj, Dumper=self._dumper)
        return text.encode("utf-8")

    def loads(self, data: bytes) -> Any:
        return self._yaml.load(data, Loader=self._loader)  # a safe loader class, see __init__


class PickleCodec:
    """``application/x-python-serialize``: any picklable object, for trusted networks only."""

    name: str = "pickle"
    content_type: str = "application/x-python-serialize"
    content_encoding: str = "binary"

    def dumps(self, obj: Any) -> bytes:
        return pickle.dumps(obj, protocol=PICKLE_PROTOCOL)

    def loads(self, data: bytes) -> Any:
        # The registry only reaches this when the user listed pickle in accept_content.
        return pickle.loads(data)  # noqa: S301 - explicitly opted in via accept_content
