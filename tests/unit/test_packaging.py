"""Packaging tells the truth: extras install only what celeriac imports, every listed URL scheme
has an implementation, a missing driver names the extra to install, one version number."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import celeriac
from celeriac.backends import BACKEND_ALIASES, resolve_backend
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport import TRANSPORT_ALIASES, resolve_transport
from celeriac.utils.imports import EXTRA_FOR_MODULE

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS: dict[str, list[str]] = PYPROJECT["optional-dependencies"]
#: Distribution name -> the module it provides, where they differ. hiredis is imported by
#: redis-py itself (its parser), never by celeriac.
MODULE_OF = {"pyyaml": "yaml", "hiredis": None}


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def _imported_top_level_modules() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "celeriac").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module.split(".")[0])
    # pytest: only the pytest plugin (celeriac/contrib/pytest.py) imports it, and only pytest
    # loads that plugin, so pytest is there whenever it is imported: no extra, no hint.
    return found - set(sys.stdlib_module_names) - {"celeriac", "click", "pytest"}


IMPORTED = _imported_top_level_modules()


@pytest.mark.parametrize("extra", sorted(set(EXTRAS) - {"test", "all"}))
def test_each_extra_installs_only_what_celeriac_imports(extra: str) -> None:
    for requirement in EXTRAS[extra]:
        name = _distribution(requirement)
        module = MODULE_OF.get(name, name.replace("-", "_"))
        assert module is None or module in IMPORTED, (
            f"extra {extra!r} installs {name}, which no module of celeriac/ imports")


def test_all_installs_every_feature_extra() -> None:
    [requirement] = EXTRAS["all"]
    listed = set(requirement.split("[", 1)[1].rstrip("]").split(","))
    assert listed == set(EXTRAS) - {"test", "all"}


def test_every_optional_import_has_an_install_hint_naming_the_extra_that_provides_it() -> None:
    assert set(EXTRA_FOR_MODULE) == IMPORTED
    for module, extra in EXTRA_FOR_MODULE.items():
        provided = {MODULE_OF.get(_distribution(r), _distribution(r)) for r in EXTRAS[extra]}
        assert module in provided, (module, extra)


@pytest.mark.parametrize("target", sorted({*TRANSPORT_ALIASES.values(), *BACKEND_ALIASES.values()}))
def test_every_listed_scheme_has_an_implementation(target: str) -> None:
    module, _, attr = target.partition(":")
    assert hasattr(importlib.import_module(module), attr)


@pytest.mark.parametrize("url", ["sqs://key:secret@", "kafka://localhost", "zookeeper://h"])
def test_an_unimplemented_broker_scheme_says_what_is_supported(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"not supported by celeriac.*Supported: .*amqp"):
        resolve_transport(url)


@pytest.mark.parametrize("url", ["mongodb://h", "couchbase://h"])
def test_an_unimplemented_result_scheme_says_what_is_supported(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"not supported by celeriac.*Supported:.*redis"):
        resolve_backend(url, BackendOptions())


#: Each scheme with a driver, and the extra whose absence the hint must name.
DRIVER_OF = {scheme: "redis" for scheme in ("redis", "rediss", "redis+socket", "sentinel")}
DRIVER_OF.update({scheme: "amqp" for scheme in ("amqp", "amqps", "pyamqp", "rpc")})
DRIVER_OF.update({scheme: "django" for scheme in ("django-db", "django-cache")})
DRIVER_OF.update({scheme: "sql" for scheme in ("db", "database")})
DRIVER_OF.update({f"cache+{name}": "memcached"
                  for name in ("memcached", "memcache", "pymemcache", "pylibmc")})

_RESOLVE_WITHOUT_DRIVERS = """
import sys
for module in ("redis", "amqp", "django", "sqlalchemy", "pymemcache"):
    sys.modules[module] = None  # what a missing package looks like to an import
from celeriac.backends import BACKEND_ALIASES, resolve_backend
from celeriac.config.frozen import BackendOptions
from celeriac.exceptions import ImproperlyConfigured
from celeriac.transport import TRANSPORT_ALIASES, resolve_transport
scheme = sys.argv[1]
try:
    if scheme in TRANSPORT_ALIASES:
        resolve_transport(scheme + "://localhost")
    if scheme in BACKEND_ALIASES:
        resolve_backend(scheme + "://localhost", BackendOptions(), broker_url="amqp://localhost")
except ImproperlyConfigured as exc:
    print(exc)
"""


@pytest.mark.parametrize("scheme", sorted(DRIVER_OF))
def test_a_missing_driver_names_the_extra_to_install(scheme: str) -> None:
    out = subprocess.run([sys.executable, "-c", _RESOLVE_WITHOUT_DRIVERS, scheme],
                         capture_output=True, text=True, timeout=60, check=False)
    assert f"pip install 'celeriac[{DRIVER_OF[scheme]}]'" in out.stdout, out.stderr[-2000:]


def test_every_scheme_needing_a_driver_is_covered_above() -> None:
    driverless = {"memory", "cache+memory", "sqlite", "sqla+sqlite", "disabled", "file"}
    assert set(TRANSPORT_ALIASES) | set(BACKEND_ALIASES) == set(DRIVER_OF) | driverless


def test_one_version_number() -> None:
    assert "version" not in PYPROJECT
    assert "version" in PYPROJECT["dynamic"]
    dynamic = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert dynamic["dynamic"]["version"] == {"attr": "celeriac.__version__"}
    assert importlib.metadata.version("celeriac") == celeriac.__version__
    assert ".".join(map(str, celeriac.VERSION[:3])) == celeriac.__version__
