"""Sphinx extension that documents tasks, as Celery's ``celery.contrib.sphinx``.

Needs Sphinx (``pip install 'celeriac[sphinx]'``); nothing else in celeriac imports this
module. In ``docs/conf.py``::

    extensions = [..., "celeriac.contrib.sphinx"]
    celery_task_prefix = "(task)"          # the default
    autodoc_use_legacy_class_based = True  # Sphinx 9+: set for you, with a warning

``automodule`` then documents ``@app.task`` functions with their real signature and a
``(task)`` prefix, ``.. autotask:: proj.tasks.add`` documents one task, and
``:task:`proj.tasks.add``` refers to it.
"""

from __future__ import annotations

import warnings
from inspect import signature
from typing import Any

import sphinx
from docutils import nodes
from sphinx.application import Sphinx
from sphinx.domains.python import PyFunction, PyXRefRole
from sphinx.ext.autodoc import FunctionDocumenter

from celeriac.app.task import Task


def _is_task(member: Any) -> bool:
    return isinstance(member, Task) and bool(getattr(member, "__wrapped__", None))


class TaskDocumenter(FunctionDocumenter):
    """Document task definitions."""

    objtype = "task"
    member_order = 11

    @classmethod
    def can_document_member(cls, member: Any, membername: str, isattr: bool,
                            parent: Any) -> bool:
        return _is_task(member)

    def format_args(self, **kwargs: Any) -> str:
        wrapped = getattr(self.object, "__wrapped__", None)
        if wrapped is None:
            return ""
        sig = signature(wrapped)
        if "self" in sig.parameters or "cls" in sig.parameters:  # bind=True: not an argument
            sig = sig.replace(parameters=list(sig.parameters.values())[1:])
        return str(sig)

    def document_members(self, all_members: bool = False) -> None:
        pass

    def check_module(self) -> bool:
        # A task is an instance whose class was made by the decorator, so the module is the
        # decorated function's.
        wrapped = getattr(self.object, "__wrapped__", None)
        if wrapped is not None and getattr(wrapped, "__module__", None) == self.modname:
            return True
        return bool(super().check_module())


class TaskDirective(PyFunction):
    """Sphinx task directive."""

    def get_signature_prefix(self, sig: str) -> list[nodes.Node]:
        return [nodes.Text(self.env.config.celery_task_prefix)]


def autodoc_skip_member_handler(app: Sphinx, what: str, name: str, obj: Any, skip: bool,
                                options: Any) -> bool | None:
    """Handler for autodoc-skip-member: never skip a task.

    A task's ``__doc__`` equals its class's, which autodoc takes for an undocumented
    instance of a documented class and skips.
    """
    if _is_task(obj) and skip:
        return False
    return None


def setup(app: Sphinx) -> dict[str, Any]:
    """Setup Sphinx extension."""
    app.setup_extension("sphinx.ext.autodoc")
    # Sphinx 9 rewrote autodoc; documenter classes need its legacy class-based mode.
    if sphinx.version_info[:2] >= (9, 0) and not getattr(
            app.config, "autodoc_use_legacy_class_based", False):
        warnings.warn(
            "Sphinx 9.0+ detected. celeriac.contrib.sphinx requires "
            "'autodoc_use_legacy_class_based = True' in conf.py. Enabling it automatically.",
            UserWarning, stacklevel=2)
        app.config.autodoc_use_legacy_class_based = True
    app.add_autodocumenter(TaskDocumenter)
    app.add_directive_to_domain("py", "task", TaskDirective)
    app.add_role_to_domain("py", "task", PyXRefRole(fix_parens=True))
    app.add_config_value("celery_task_prefix", "(task)", "env")  # Celery's True
    app.connect("autodoc-skip-member", autodoc_skip_member_handler)
    return {"parallel_read_safe": True}


__all__ = ["TaskDirective", "TaskDocumenter", "autodoc_skip_member_handler", "setup"]
