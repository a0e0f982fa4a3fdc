"""What a result store can do beyond keeping task records, declared by each store.

Callers ask the store itself (``backend.chord_join()``, ``backend.save_group(...)``) instead of
guessing from its class, so a new store works with chords and groups by declaring and
providing them, and fails clearly when it does not:

* ``Capability.CHORDS``: ``chord_join()`` returns the store's ``backends.chords.ChordJoin``,
  which counts finished header tasks and lets exactly one caller fire the body.
* ``Capability.GROUPS``: ``save_group``/``restore_group``/``delete_group`` keep a group's
  members under ``celery-taskset-meta-<gid>`` in Celery's layout, as Celery's backends do.
* ``Capability.STORE_IF_NOT_FINAL``: ``store`` writes a record only where it replaces no final
  state (``backends.final_state``): a SUCCESS stays, a stale RETRY hides nothing.

``StoreCapabilities`` is the base of every store: an undeclared capability's methods raise
``UnsupportedByStore`` (a ``NotImplementedError``, as Celery's disabled backend raises, and an
``ImproperlyConfigured``, since the fix is another ``result_backend``). A store class that
provides a capability's methods without declaring it, or declares one it does not provide,
is refused when the class is created. The contract suite (``tests/contract``) proves every
declared capability on every store that declares it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

from celeriac.backends.celery_api import CeleryBackendAPI
from celeriac.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from celeriac.backends.chords import ChordJoin


class Capability(StrEnum):
    """A named ability of a result store (see the module docstring)."""

    CHORDS = "chords"
    GROUPS = "groups"
    STORE_IF_NOT_FINAL = "store-if-not-final"


#: The methods a store overrides to provide a capability (none: ``store`` itself keeps it).
PROVIDED_BY: Final[dict[Capability, tuple[str, ...]]] = {
    Capability.CHORDS: ("chord_join",),
    Capability.GROUPS: ("save_group", "restore_group", "delete_group"),
    Capability.STORE_IF_NOT_FINAL: (),
}

_WHAT: Final = {
    Capability.CHORDS: "count a chord's header tasks",
    Capability.GROUPS: "save or restore group results",
}


class UnsupportedByStore(ImproperlyConfigured, NotImplementedError):
    """The configured result store does not support what was asked of it."""


def unsupported(store: object, capability: Capability) -> UnsupportedByStore:
    """The error for asking ``store`` for a ``capability`` it does not declare."""
    return UnsupportedByStore(
        f"Result store {type(store).__name__} does not support {capability}: it cannot "
        f"{_WHAT.get(capability, capability.value)}. Set result_backend to a store that "
        "does (redis://, sqlite:// or cache+memory://)."
    )


class StoreCapabilities(CeleryBackendAPI):
    """The capability half of every result store: declared set, refusing defaults. Celery's
    ``Backend`` methods come with it (``backends.celery_api``), so every store offers them."""

    #: What this store supports; a subclass widens it for each capability it provides.
    capabilities: frozenset[Capability] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for capability, methods in PROVIDED_BY.items():
            declared = capability in cls.capabilities
            for name in methods:
                provided = getattr(cls, name) is not getattr(StoreCapabilities, name)
                if provided != declared:
                    verb = "provides" if provided else "lacks"
                    raise TypeError(
                        f"{cls.__name__} {verb} {name}() but "
                        f"{'does not declare' if provided else 'declares'} {capability.value!r}"
                        " in its capabilities"
                    )

    def ensure_chords_allowed(self) -> None:
        """Celery's check before a chord is sent: raise unless the store declares ``CHORDS``.

        Raises:
            UnsupportedByStore: the store does not declare ``Capability.CHORDS``.
        """
        if Capability.CHORDS not in self.capabilities:
            raise unsupported(self, Capability.CHORDS)

    def chord_join(self) -> ChordJoin:
        """This store's chord counter (one per store object).

        Raises:
            UnsupportedByStore: the store does not declare ``Capability.CHORDS``.
        """
        raise unsupported(self, Capability.CHORDS)

    def save_group(self, group_id: str, result: Any) -> None:
        """Keep ``result`` (a ``GroupResult``, or its ``as_tuple()`` form) under ``group_id``.

        Raises:
            UnsupportedByStore: the store does not declare ``Capability.GROUPS``.
        """
        raise unsupported(self, Capability.GROUPS)

    def restore_group(self, group_id: str) -> Any:
        """The ``as_tuple()`` form saved under ``group_id``, or None (results build the
        ``GroupResult``: stores sit below them).

        Raises:
            UnsupportedByStore: the store does not declare ``Capability.GROUPS``.
        """
        raise unsupported(self, Capability.GROUPS)

    def delete_group(self, group_id: str) -> None:
        """Forget the group saved under ``group_id``.

        Raises:
            UnsupportedByStore: the store does not declare ``Capability.GROUPS``.
        """
        raise unsupported(self, Capability.GROUPS)


__all__ = ["PROVIDED_BY", "Capability", "StoreCapabilities", "UnsupportedByStore",
           "unsupported"]
