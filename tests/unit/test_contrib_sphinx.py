"""``celeriac.contrib.sphinx`` builds the same task documentation as Celery's extension.

A tiny project is documented twice by a real Sphinx build (a subprocess each): once with
Celery's app and ``celery.contrib.sphinx``, once with celeriac's; the text output must match.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("celery.contrib.sphinx")

TASKS = '''
"""Tasks of the documented project."""
from {package} import Celery

app = Celery("docproj", broker="memory://", set_as_current=False)


@app.task
def add(x, y=2):
    """Add two numbers."""
    return x + y


@app.task(bind=True)
def retrying(self, url, *, tries=3):
    """Fetch url, retrying."""
    return url


def helper(a):
    """A plain function."""
    return a
'''

INDEX = """
Project
=======

.. automodule:: {module}
   :members:

.. autotask:: {module}.add
   :no-index:

See :task:`{module}.add`.
"""


def build(tmp_path: Path, package: str) -> str:
    src = tmp_path / package / "src"
    src.mkdir(parents=True)
    module = f"docproj_{package}"
    (src / f"{module}.py").write_text(TASKS.format(package=package))
    (src / "conf.py").write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(src)!r})
        extensions = ["{package}.contrib.sphinx"]
        autodoc_use_legacy_class_based = True
    """))
    (src / "index.rst").write_text(INDEX.format(module=module))
    out = tmp_path / package / "out"
    done = subprocess.run([sys.executable, "-m", "sphinx", "-b", "text", "-q", "-E",
                           str(src), str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    return (out / "index.txt").read_text().replace(module, "MODULE")


def test_tasks_are_documented_like_celerys_extension_does(tmp_path: Path) -> None:
    ours = build(tmp_path, "celeriac")
    assert "(task)MODULE.add(x, y=2)" in ours
    assert "(task)MODULE.retrying(url, *, tries=3)" in ours  # bind=True: no self
    assert "Add two numbers." in ours and "Fetch url, retrying." in ours
    assert "MODULE.helper(a)" in ours and "(task)MODULE.helper" not in ours
    assert ours == build(tmp_path, "celery")


def test_setup_turns_on_legacy_autodoc_on_sphinx_9_with_a_warning(tmp_path: Path) -> None:
    import sphinx

    if sphinx.version_info[:2] < (9, 0):
        pytest.skip("Sphinx < 9 has only the class-based autodoc")
    from sphinx.application import Sphinx

    src = tmp_path / "src"
    src.mkdir()
    (src / "conf.py").write_text("extensions = ['celeriac.contrib.sphinx']\n")
    (src / "index.rst").write_text("Empty\n=====\n")
    with pytest.warns(UserWarning, match="autodoc_use_legacy_class_based"):
        app = Sphinx(str(src), str(src), str(tmp_path / "out"), str(tmp_path / "doctrees"),
                     "text", status=None, warning=None)
    assert app.config.autodoc_use_legacy_class_based is True


def test_import_celeriac_loads_no_contrib_tool() -> None:
    code = ("import sys, celeriac; celeriac.Celery('x', broker='memory://'); "
            "print(sorted(m for m in sys.modules if m.split('.')[-1] in ('abortable', 'rdb', "
            "'migrate', 'migrate_filter', 'sphinx', 'docutils', 'pdb')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
