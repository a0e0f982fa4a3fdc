"""``app.user_options['worker']``: command-line options the app adds to ``celeriac worker``.

The app is loaded after click has parsed the command line, so the worker command keeps what
it does not know (``ctx.args``) and this module parses it with the app's own click options
once the app is known. The values reach user bootsteps as ``__init__`` keyword arguments,
as Celery documents. An argument neither side knows is a usage error, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click


def parse_user_options(app: Any, command: str, args: Sequence[str]) -> dict[str, Any]:
    """``args`` parsed with ``app.user_options[command]`` (defaults filled in)."""
    params = list(getattr(app, "user_options", {}).get(command, ()))
    if not params:
        if args:
            raise click.UsageError(f"No such option: {args[0]}")
        return {}
    parser = click.Command(command, params=params, add_help_option=False)
    try:
        ctx = parser.make_context(command, list(args))
    except click.UsageError as exc:
        raise click.UsageError(exc.format_message()) from None
    return dict(ctx.params)


__all__ = ["parse_user_options"]
