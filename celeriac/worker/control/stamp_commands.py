"""``revoke_by_stamped_headers``: Celery's remote-control command to revoke tasks by stamp.

The values join the worker's ``RevokedRegistry`` (``worker/revoked_stamps.py`` says how), so
the dispatcher refuses every later task carrying one of them; with ``terminate`` the running tasks
that carry one are killed with ``signal``. Arguments and replies are Celery 5.7's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celeriac.control.revocations import parse_headers, stamp_entries
from celeriac.worker.control.commands import ok, signum_of
from celeriac.worker.control.registry import command
from celeriac.worker.revoked_stamps import matching_stamps

if TYPE_CHECKING:
    from celeriac.worker.control.node import ControlNode


@command("revoke_by_stamped_headers", variadic="headers",
         signature="[key1=value1 [key2=value2 [... [keyN=valueN]]]]",
         help="Revoke task by header (or list of headers).")
def revoke_by_stamped_headers(node: ControlNode, arguments: dict[str, Any]) -> Any:
    headers = parse_headers(arguments.get("headers"))
    node.view.revoked.stamps.add(headers)
    node.view.revoked.add(stamp_entries(headers))  # kept by --statedb, like revoked ids
    if not arguments.get("terminate"):
        return ok(f"headers {headers} flagged as revoked, but not terminated")
    signum = signum_of(arguments.get("signal"))
    hit: dict[str, set[Any]] = {}
    for info in node.view.active():
        found = matching_stamps(info.request.headers, headers)
        if found:
            for name, values in found.items():
                hit.setdefault(name, set()).update(values)
            node.view.terminate(info.request.task_id, signum)
    if not hit:
        return ok(f"headers {headers} were not terminated")
    return ok(f"headers {hit} revoked")


__all__ = ["revoke_by_stamped_headers"]
