"""``SignatureExtras``: what ``Signature`` offers beyond building and sending a call.

Stamping (``stamp``, ``stamp_links``; the rules are in ``canvas.stamping``) and Celery's small
introspection helpers (``AsyncResult``, ``root_id``/``parent_id``, ``flatten_links``,
``reprcall``). Kept apart so ``signature.py`` stays about the call itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from celeriac.canvas.stamping import StampingVisitor, stamp_headers, stamp_links, stamp_signature

if TYPE_CHECKING:
    from celeriac.canvas.signature import Signature


def _as_sig(value: Any) -> Signature:
    return cast("Signature", value)


def _option_property(name: str) -> Any:
    """Celery's ``getitem_property('options.<name>')``: read and set one option."""

    def get(self: dict[str, Any]) -> str | None:
        value = self["options"].get(name)
        return None if value is None else str(value)

    def put(self: dict[str, Any], value: str | None) -> None:
        self["options"][name] = value

    return property(get, put, doc=f"The ``{name}`` option.")


class SignatureExtras(dict[str, Any]):
    """Mixed into ``Signature`` (which provides ``task``, ``app``, ``options``...)."""

    # -- stamping ------------------------------------------------------------------------
    def stamp(self, visitor: StampingVisitor | None = None, append_stamps: bool = False,
              **headers: Any) -> Any:
        """Stamp this call (and its links) with ``headers`` and the ``visitor``'s stamps.

        See ``celeriac.canvas.stamping`` for where stamps go and how they merge.
        """
        return stamp_signature(_as_sig(self), visitor, append_stamps, **headers)

    def stamp_links(self, visitor: StampingVisitor | None, append_stamps: bool = False,
                    **headers: Any) -> None:
        """Stamp the callbacks and errbacks only."""
        stamp_links(_as_sig(self), visitor, append_stamps, **headers)

    def _stamp_headers(self, visitor_headers: dict[str, Any] | None = None,
                       append_stamps: bool = False, self_headers: bool = True,
                       **headers: Any) -> dict[str, Any]:
        return stamp_headers(_as_sig(self), visitor_headers, append_stamps, self_headers,
                             **headers)

    def election(self) -> Any:
        """Celery's ``Signature.election``: hold a gossip election among the workers, whose
        leader sends this signature (once, under one task id); the call's ``AsyncResult``."""
        from celeriac.utils import uuid

        sig = _as_sig(self)
        task_id = sig.options.get("task_id") or uuid()
        sig.app.control.election(task_id, "task", sig.clone(task_id=task_id))
        return self.AsyncResult(task_id)

    # -- introspection -------------------------------------------------------------------
    @property
    def AsyncResult(self) -> Any:
        """The result class of the task (the app's when the task is not registered here)."""
        sig = _as_sig(self)
        task = sig.app.tasks.get(sig.task)
        return task.AsyncResult if task is not None else sig.app.AsyncResult

    root_id = _option_property("root_id")
    parent_id = _option_property("parent_id")

    def flatten_links(self) -> list[Signature]:
        """This signature and every callback linked to it, depth first (errbacks left out)."""
        from celeriac.canvas.signature import maybe_signature

        links = self["options"].get("link") or []
        out = [_as_sig(self)]
        for link in links if isinstance(links, list | tuple) else [links]:
            out.extend(maybe_signature(link, app=_as_sig(self)._app).flatten_links())
        return out

    def reprcall(self, *args: Any, **kwargs: Any) -> str:
        """``"name(arg, key=value)"`` with ``args``/``kwargs`` merged in, immutable or not."""
        sig = _as_sig(self)
        call_args, call_kwargs, _ = sig._merge(args, kwargs, {}, force=True)
        parts = [*(repr(a) for a in call_args), *(f"{k}={v!r}" for k, v in call_kwargs.items())]
        return f"{sig.task}({', '.join(parts)})"


__all__ = ["SignatureExtras"]
