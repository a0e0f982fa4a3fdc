"""Issue 3's Redis URL forms against real, private servers: ACL user, TLS, unix socket, sentinel.

Parsing is unit-tested (tests/unit/test_redis_keys.py); these tests prove each form end to end:
a celeriac app with that broker and result backend, an in-process solo worker, and
``add.delay(2, 3).get() == 5``. The negative tests prove a wrong secret or an unreachable
server gives a clear ``OperationalError`` (or ``ImproperlyConfigured``) that says which server
it was, never the password, and comes back promptly instead of hanging.

Client calls run on a helper thread with a deadline so a hang is a readable failure, not a
pytest-timeout traceback. Every server is the test's own (``redis_variants.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from ssl import CERT_REQUIRED
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from celeriac import Celery
from celeriac.exceptions import ImproperlyConfigured, OperationalError
from celeriac.worker.worker import Worker, WorkerOptions
from tests.helpers import unique_name
from tests.integration.redis_server import _free_port
from tests.integration.redis_variants import (
    ACL_PASSWORD_QUOTED,
    ACL_USER,
    TlsFiles,
    acl_redis,
    make_tls_files,
    sentinel_redis,
    socket_redis,
    tls_redis,
)

pytestmark = [pytest.mark.redis, pytest.mark.timeout(90)]

#: A correct client gives up within its publish retry policy (3 retries, <= 1 s apart) or its
#: result wait; anything near this is a hang.
DEADLINE = 6.0
SENTINEL_PASSWORD = "sentinel-m@ster:pw"


def _app(broker: str, backend: str, **conf: Any) -> Celery:
    app = Celery(unique_name("urlvariant"), broker=broker, backend=backend)
    app.conf.update(conf)

    @app.task(name="variants.add")
    def add(x: int, y: int) -> int:
        return x + y

    return app


def _within(fn: Callable[[], Any], what: str, seconds: float = DEADLINE) -> Any:
    """Run ``fn`` on a daemon thread; return its value, re-raise its error, fail if it hangs."""
    outcome: list[tuple[bool, Any]] = []

    def target() -> None:
        try:
            outcome.append((True, fn()))
        except BaseException as exc:  # handed to the test thread
            outcome.append((False, exc))

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True, name=f"variant-{what}")
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise AssertionError(f"{what} still blocked after {time.monotonic() - started:.0f}s")
    ok, value = outcome[0]
    if not ok:
        raise value
    return value


@contextmanager
def _worker(app: Celery) -> Iterator[Worker]:
    """An in-process solo worker on a thread; stopped and joined on exit."""
    worker = Worker(app, WorkerOptions(pool="solo"))
    thread = threading.Thread(
        target=worker.run, kwargs={"install_signals": False}, daemon=True, name="variant-worker"
    )
    thread.start()
    try:
        yield worker
    finally:  # a worker stuck after a failed test must not hide that test's own error
        worker.stop()
        thread.join(5)
        app.close()
    assert not thread.is_alive(), "the in-process worker did not stop within 5 s"


def _round_trip(app: Celery) -> None:
    with _worker(app):
        result = _within(
            lambda: app.tasks["variants.add"].delay(2, 3).get(timeout=DEADLINE - 1),
            "delay(2, 3).get()",
        )
        assert result == 5


def _clear_failure(fn: Callable[[], Any], what: str, where: str, secret: str | None) -> str:
    """``fn`` fails promptly with a celeriac error naming ``where`` and never ``secret``."""
    with pytest.raises((OperationalError, ImproperlyConfigured)) as info:
        _within(fn, what)
    message = str(info.value)
    if secret is not None:
        for form in {secret, quote(secret, safe="")}:
            assert form not in message, f"the password leaked into the error: {message!r}"
    assert where in message, f"the error does not say which server ({where}): {message!r}"
    return message


def _delay(app: Celery) -> Callable[[], Any]:
    return lambda: app.tasks["variants.add"].delay(2, 3)


def _get(app: Celery) -> Callable[[], Any]:
    return lambda: app.AsyncResult("no-such-task").get(timeout=2)


# -- redis://user:password@host:port/db (ACL user) ------------------------------------------------
def test_acl_user_round_trip(tmp_path: Path) -> None:
    """The ``default`` user is off: only the ACL user (password percent-encoded) gets in."""
    with acl_redis(tmp_path / "acl") as server:
        base = f"redis://{ACL_USER}:{ACL_PASSWORD_QUOTED}@127.0.0.1:{server.port}"
        _round_trip(_app(f"{base}/0", f"{base}/1"))
        assert server.client(1).keys("celery-task-meta-*"), "the result was not stored in db 1"


def test_acl_wrong_password_publish_fails_clearly(tmp_path: Path) -> None:
    with acl_redis(tmp_path / "acl") as server:
        secret = "wrong-Pa55word"
        url = f"redis://{ACL_USER}:{secret}@127.0.0.1:{server.port}/0"
        app = _app(url, url)
        try:
            _clear_failure(
                _delay(app), "delay() with a wrong password", f"127.0.0.1:{server.port}", secret
            )
        finally:
            app.close()


def test_acl_wrong_password_result_read_fails_clearly(tmp_path: Path) -> None:
    with acl_redis(tmp_path / "acl") as server:
        secret = "wrong-Pa55word"
        url = f"redis://{ACL_USER}:{secret}@127.0.0.1:{server.port}/1"
        app = _app(f"redis://{ACL_USER}:{ACL_PASSWORD_QUOTED}@127.0.0.1:{server.port}/0", url)
        try:
            _clear_failure(
                _get(app),
                "AsyncResult.get() with a wrong password",
                f"127.0.0.1:{server.port}",
                secret,
            )
        finally:
            app.close()


# -- rediss:// (TLS) ------------------------------------------------------------------------------
def _ssl_options(files: TlsFiles, ca: Path | None = None) -> dict[str, str]:
    return {
        "ssl_cert_reqs": "required",
        "ssl_ca_certs": str(ca or files.ca),
        "ssl_certfile": str(files.client_cert),
        "ssl_keyfile": str(files.client_key),
    }


def test_rediss_round_trip_with_celery_ssl_settings(tmp_path: Path) -> None:
    """Celery's own settings, as its docs write them: ``broker_use_ssl`` and
    ``redis_backend_use_ssl`` with ``ssl.CERT_REQUIRED`` and a client certificate (mutual TLS)."""
    files = make_tls_files(tmp_path / "certs")
    with tls_redis(tmp_path / "tls", files) as server:
        url = f"rediss://127.0.0.1:{server.port}"
        ssl: dict[str, Any] = {**_ssl_options(files), "ssl_cert_reqs": CERT_REQUIRED}
        _round_trip(_app(f"{url}/0", f"{url}/1", broker_use_ssl=ssl, redis_backend_use_ssl=ssl))
        assert server.client(1).keys("celery-task-meta-*")


def test_rediss_round_trip_with_ssl_in_the_url_query(tmp_path: Path) -> None:
    """kombu's and Celery's query form: ``rediss://host:port/0?ssl_cert_reqs=required&...``."""
    files = make_tls_files(tmp_path / "certs")
    with tls_redis(tmp_path / "tls", files) as server:
        query = urlencode(_ssl_options(files))
        url = f"rediss://127.0.0.1:{server.port}"
        _round_trip(_app(f"{url}/0?{query}", f"{url}/1?{query}"))


def test_rediss_untrusted_server_certificate_fails_clearly(tmp_path: Path) -> None:
    """The client trusts another CA: certificate verification fails, promptly and clearly."""
    files = make_tls_files(tmp_path / "certs")
    other = make_tls_files(tmp_path / "other", name="otherca")
    with tls_redis(tmp_path / "tls", files) as server:
        url = f"rediss://127.0.0.1:{server.port}/0"
        ssl = _ssl_options(files, ca=other.ca)
        # Given both ways (settings and transport options) so this test does not depend on
        # the settings being passed through, which test_rediss_round_trip_with_celery_... proves.
        app = _app(
            url,
            url,
            broker_use_ssl=ssl,
            redis_backend_use_ssl=ssl,
            broker_transport_options={"ssl": ssl},
            result_backend_transport_options={"ssl": ssl},
        )
        try:
            message = _clear_failure(
                _delay(app),
                "delay() against an untrusted certificate",
                f"127.0.0.1:{server.port}",
                None,
            )
        finally:
            app.close()
        assert "certificate" in message.lower(), message


# -- redis+socket:///path -------------------------------------------------------------------------
def test_unix_socket_round_trip() -> None:
    with socket_redis() as server:
        path = server.probe["unix_socket_path"]
        _round_trip(_app(f"redis+socket://{path}", f"redis+socket://{path}?virtual_host=1"))
        assert server.client(1).keys("celery-task-meta-*"), "virtual_host=1 was not honoured"


def test_unix_socket_missing_path_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "no-such-redis.sock"
    app = _app(f"redis+socket://{path}", f"redis+socket://{path}")
    try:
        _clear_failure(_get(app), "AsyncResult.get() on a missing socket", str(path), None)
        _clear_failure(_delay(app), "delay() on a missing socket", str(path), None)
    finally:
        app.close()


# -- sentinel://host:26379;sentinel://... with master_name ----------------------------------------
def test_sentinel_round_trip(tmp_path: Path) -> None:
    """The sentinel names the master; the master's password comes from the URL, as in kombu."""
    with sentinel_redis(tmp_path / "sentinel", password=SENTINEL_PASSWORD) as setup:
        secret = quote(SENTINEL_PASSWORD, safe="")
        url = f"sentinel://:{secret}@127.0.0.1:{setup.sentinel.port}"
        options = {"master_name": setup.master_name}
        _round_trip(
            _app(
                f"{url}/0",
                f"{url}/1",
                broker_transport_options=options,
                result_backend_transport_options=options,
            )
        )
        assert setup.master.client(1).keys("celery-task-meta-*")


def test_sentinel_list_with_a_dead_first_sentinel(tmp_path: Path) -> None:
    """``sentinel://dead;sentinel://live``: listing several sentinels is how one survives a
    sentinel's death, so a dead one must cost a refused connection, not seconds of retries."""
    with sentinel_redis(tmp_path / "sentinel") as setup:
        ports = (_free_port(), setup.sentinel.port)  # nothing listens on the first one
        broker = ";".join(f"sentinel://127.0.0.1:{port}/0" for port in ports)
        backend = ";".join(f"sentinel://127.0.0.1:{port}/1" for port in ports)
        options = {"master_name": setup.master_name}
        _round_trip(
            _app(
                broker,
                backend,
                broker_transport_options=options,
                result_backend_transport_options=options,
            )
        )


def test_sentinel_wrong_master_password_fails_clearly(tmp_path: Path) -> None:
    with sentinel_redis(tmp_path / "sentinel", password=SENTINEL_PASSWORD) as setup:
        secret = "not-the-master-pw"
        url = f"sentinel://:{secret}@127.0.0.1:{setup.sentinel.port}/0"
        options = {"master_name": setup.master_name}
        app = _app(
            url, url, broker_transport_options=options, result_backend_transport_options=options
        )
        try:
            _clear_failure(
                _delay(app), "delay() with a wrong master password", setup.master_name, secret
            )
        finally:
            app.close()


def test_sentinel_unknown_master_name_fails_clearly(tmp_path: Path) -> None:
    with sentinel_redis(tmp_path / "sentinel") as setup:
        url = setup.url(0)
        options = {"master_name": "no-such-master"}
        app = _app(
            url, url, broker_transport_options=options, result_backend_transport_options=options
        )
        try:
            _clear_failure(
                _get(app), "AsyncResult.get() for an unknown master", "no-such-master", None
            )
        finally:
            app.close()


def test_sentinel_without_master_name_is_improperly_configured() -> None:
    """No I/O needed: the URL alone cannot name a master."""
    app = _app("sentinel://127.0.0.1:1/0", "sentinel://127.0.0.1:1/1")
    with pytest.raises(ImproperlyConfigured, match="master_name"):
        app.tasks["variants.add"].delay(2, 3)
    app.close()
