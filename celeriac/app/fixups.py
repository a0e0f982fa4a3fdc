"""Fix-ups: framework integrations an app applies to itself when it is made (Celery's
``app.fixups``).

A fix-up is named by an import string, ``'module:callable'``, and called with the new app
before its base ``Task`` class is built; it returns an object that the app keeps (its signal
receivers are weak references), or ``None`` when it does not apply. The app never imports a
fix-up's module statically: ``celeriac.contrib`` sits above the app layer, and naming it here
keeps ``import celeriac`` free of any framework.

A fix-up object may offer ``autodiscover_tasks() -> list[str]``: the packages that
``app.autodiscover_tasks()`` with no arguments searches (Django's installed apps).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from celeriac.utils.imports import import_symbol

if TYPE_CHECKING:
    from celeriac.app.base import Celery

#: Applied to every app unless ``Celery(fixups=...)`` says otherwise, as Celery's
#: ``builtin_fixups``. Each checks cheaply whether it applies (Django: only when
#: ``DJANGO_SETTINGS_MODULE`` is set), so an app without a framework pays one small import.
BUILTIN_FIXUPS: frozenset[str] = frozenset({"celeriac.contrib.django.fixup:fixup"})


def apply_fixups(app: Celery, names: Iterable[str]) -> list[Any]:
    """Call each fix-up on ``app``; return those that applied (to be kept alive by the app)."""
    applied = []
    for name in sorted(names):  # a set in Celery: sorted here so the order is reproducible
        fixup = import_symbol(name)(app)
        if fixup is not None:
            applied.append(fixup)
    return applied


def discovered_packages(fixups: Iterable[Any]) -> list[str]:
    """The packages the fix-ups list for ``autodiscover_tasks()`` without arguments."""
    return [package for fixup in fixups
            if hasattr(fixup, "autodiscover_tasks")
            for package in fixup.autodiscover_tasks()]


__all__ = ["BUILTIN_FIXUPS", "apply_fixups", "discovered_packages"]
