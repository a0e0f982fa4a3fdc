"""Private ``redis-server`` variants for the URL forms of issue 3: ACL, TLS, unix socket, sentinel.

Each server is the test's own (a free port or a socket in a short temporary directory), started
by PID and stopped by PID through ``RedisServer``'s ``stop``; the shared 127.0.0.1:6379 server is
never touched. ``RedisServer.start`` hard-codes a plain TCP port with persistence, which none of
these want, so ``VariantServer`` overrides only how the process is launched and how readiness is
probed (a TLS or unix-socket client, or a sentinel that already knows its master).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.redis_server import RedisServer, _free_port

#: The password of the ACL user, with characters that must be percent-encoded in a URL.
ACL_USER = "celeriac-user"
ACL_PASSWORD = "s3cr:et@pw/1"
ACL_PASSWORD_QUOTED = "s3cr%3Aet%40pw%2F1"


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    return binary


class VariantServer(RedisServer):
    """A ``redis-server`` launched with ``args`` (no persistence) and probed by ``probe``.

    ``probe`` builds the redis-py client used to wait for readiness; it must answer PING (and
    for a sentinel, know its master) before ``start`` returns.
    """

    def __init__(
        self,
        directory: Path,
        args: list[str],
        port: int | None = None,
        probe: dict[str, Any] | None = None,
        sentinel_of: str | None = None,
    ) -> None:
        super().__init__(directory, port)
        self.args = args
        self.probe = probe if probe is not None else {"host": "127.0.0.1", "port": self.port}
        self.sentinel_of = sentinel_of

    def start(self, timeout: float = 20.0) -> None:
        binary = _binary()
        self.directory.mkdir(parents=True, exist_ok=True)
        common = [
            "--dir",
            str(self.directory),
            "--daemonize",
            "no",
            "--logfile",
            str(self.log_path),
        ]
        self.process = subprocess.Popen(
            [binary, *self.args, *common], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_ready(timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(socket_connect_timeout=0.5, **self.probe)
        try:
            while time.monotonic() < deadline:
                if not self.running():
                    raise AssertionError(f"redis-server exited at start:\n{self.log()}")
                try:
                    if self._ready(client):
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        raise AssertionError(f"redis-server not ready after {timeout}s:\n{self.log()}")

    def _ready(self, client: redis.Redis) -> bool:
        if not client.ping():
            return False
        if self.sentinel_of is None:
            return True
        master = client.execute_command(  # type: ignore[no-untyped-call]
            "SENTINEL", "get-master-addr-by-name", self.sentinel_of
        )
        return master is not None

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(db=db, **self.probe)


@contextmanager
def _running(server: VariantServer) -> Iterator[VariantServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _plain_args(port: int) -> list[str]:
    return [
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
    ]


@contextmanager
def acl_redis(directory: Path) -> Iterator[VariantServer]:
    """A server whose ``default`` user is off: only ``ACL_USER``/``ACL_PASSWORD`` may log in."""
    port = _free_port()
    with _running(VariantServer(directory, _plain_args(port), port)) as server:
        admin = server.client()
        admin.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", ACL_USER, "on", f">{ACL_PASSWORD}", "~*", "&*", "+@all"
        )
        admin.execute_command("ACL", "SETUSER", "default", "off")  # type: ignore[no-untyped-call]
        admin.close()
        server.probe = {
            "host": "127.0.0.1",
            "port": port,
            "username": ACL_USER,
            "password": ACL_PASSWORD,
        }
        yield server


@contextmanager
def socket_redis() -> Iterator[VariantServer]:
    """A server listening only on a unix socket (no TCP port).

    The socket lives in a short ``/tmp`` directory: pytest's ``tmp_path`` can exceed the 107
    bytes a unix socket path may have.
    """
    directory = Path(tempfile.mkdtemp(prefix="celeriac-sock-", dir="/tmp"))
    path = directory / "redis.sock"
    args = [
        "--port",
        "0",
        "--unixsocket",
        str(path),
        "--unixsocketperm",
        "700",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    try:
        with _running(VariantServer(directory, args, probe={"unix_socket_path": str(path)})) as s:
            yield s
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{done.stderr}")


def make_tls_files(directory: Path, name: str = "ca") -> TlsFiles:
    """Generate the CA and both leaf certificates with the ``openssl`` CLI (EC keys: fast)."""
    if shutil.which("openssl") is None:
        reason = "the openssl CLI is needed to make the test certificates and is not installed"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    directory.mkdir(parents=True, exist_ok=True)
    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *key,
        "-keyout",
        f"{name}.key",
        "-out",
        f"{name}.crt",
        "-days",
        "2",
        "-subj",
        f"/CN=celeriac test {name}",
        cwd=directory,
    )
    ext = directory / "leaf.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for leaf in ("server", "client"):
        _openssl(
            "req",
            *key,
            "-keyout",
            f"{leaf}.key",
            "-out",
            f"{leaf}.csr",
            "-subj",
            f"/CN={leaf}",
            cwd=directory,
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{leaf}.csr",
            "-CA",
            f"{name}.crt",
            "-CAkey",
            f"{name}.key",
            "-CAcreateserial",
            "-out",
            f"{leaf}.crt",
            "-days",
            "2",
            "-extfile",
            str(ext),
            cwd=directory,
        )
    return TlsFiles(
        ca=directory / f"{name}.crt",
        server_cert=directory / "server.crt",
        server_key=directory / "server.key",
        client_cert=directory / "client.crt",
        client_key=directory / "client.key",
    )


def tls_supported() -> bool:
    """Whether this ``redis-server`` build has TLS (built with ``BUILD_TLS=yes``).

    Asked by starting it with a TLS port and a certificate that does not exist: a TLS build
    refuses at once with "Failed to configure TLS"; a build without TLS does not load
    certificates at all, so any other outcome (including still running at the timeout, when
    ``subprocess.run`` kills it) means no TLS.
    """
    args = [
        _binary(),
        "--port",
        "0",
        "--tls-port",
        str(_free_port()),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        "/nonexistent.crt",
        "--tls-key-file",
        "/nonexistent.key",
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=5, check=False)
    except subprocess.TimeoutExpired:
        return False
    return "failed to configure tls" in (done.stdout + done.stderr).lower()


@contextmanager
def tls_redis(directory: Path, files: TlsFiles) -> Iterator[VariantServer]:
    """A server speaking only TLS, requiring a client certificate signed by ``files.ca``."""
    if not tls_supported():
        pytest.skip(
            "this redis-server build has no TLS support (not built with BUILD_TLS=yes); "
            "the rediss:// round trip cannot be tested here"
        )
    port = _free_port()
    args = [
        "--port",
        "0",
        "--tls-port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--tls-cert-file",
        str(files.server_cert),
        "--tls-key-file",
        str(files.server_key),
        "--tls-ca-cert-file",
        str(files.ca),
        "--tls-auth-clients",
        "yes",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
    ]
    probe = {
        "host": "127.0.0.1",
        "port": port,
        "ssl": True,
        "ssl_ca_certs": str(files.ca),
        "ssl_certfile": str(files.client_cert),
        "ssl_keyfile": str(files.client_key),
    }
    with _running(VariantServer(directory, args, port, probe=probe)) as server:
        yield server


@dataclass(frozen=True)
class SentinelSetup:
    """A private master and one sentinel (quorum 1) monitoring it as ``master_name``."""

    master: VariantServer
    sentinel: VariantServer
    master_name: str

    def url(self, db: int = 0) -> str:
        return f"sentinel://127.0.0.1:{self.sentinel.port}/{db}"


@contextmanager
def sentinel_redis(
    directory: Path, master_name: str = "mymaster", password: str | None = None
) -> Iterator[SentinelSetup]:
    """Start a master (``requirepass password`` if given) and a sentinel that knows it."""
    mport, sport = _free_port(), _free_port()
    margs = _plain_args(mport) + (["--requirepass", password] if password else [])
    mprobe: dict[str, Any] = {"host": "127.0.0.1", "port": mport, "password": password}
    master = VariantServer(directory / "master", margs, mport, probe=mprobe)
    conf = directory / "sentinel" / "sentinel.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        f"port {sport}",
        "bind 127.0.0.1",
        "protected-mode no",
        f"sentinel monitor {master_name} 127.0.0.1 {mport} 1",
        f"sentinel down-after-milliseconds {master_name} 5000",
    ]
    if password:
        lines.append(f"sentinel auth-pass {master_name} {password}")
    conf.write_text("\n".join(lines) + "\n")  # sentinel rewrites it: must be writable
    sentinel = VariantServer(conf.parent, [str(conf), "--sentinel"], sport, sentinel_of=master_name)
    with _running(master), _running(sentinel):
        yield SentinelSetup(master, sentinel, master_name)


__all__ = [
    "ACL_PASSWORD",
    "ACL_PASSWORD_QUOTED",
    "ACL_USER",
    "SentinelSetup",
    "TlsFiles",
    "VariantServer",
    "acl_redis",
    "make_tls_files",
    "sentinel_redis",
    "socket_redis",
    "tls_redis",
    "tls_supported",
]
