"""Private Postfix and Exim instances on loopback, for the interop tests.

Each server gets its own working directory (configuration, queue or spool, log, TLS key),
listens only on 127.0.0.1 at a free high port, and is stopped and removed at the end. Both
are configured as sinks for RCPT probing: listed mailboxes exist in ``interop.test``, any
other local part is refused, no client may relay, and a message body is always refused.

The configuration templates sit beside this file; ``@DIR@`` and ``@PORT@`` in them are
replaced by the working directory and the port. ``.ci/setup-mtas`` installs both programs.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent
DOMAIN = "interop.test"
# Where .ci/setup-mtas unpacks Exim when the system has no exim4 of its own.
EXIM_ROOT = Path(os.environ.get("PROBER_EXIM_ROOT", "/opt/prober-interop/exim4"))

MailServerT = TypeVar("MailServerT", bound="MailServer")

START_TIMEOUT = 20.0  # seconds for a server to start answering with its banner
STOP_TIMEOUT = 10.0


class Unavailable(Exception):
    """The server cannot run on this machine (not installed, not root); tests skip."""


def running(make: Callable[[], MailServerT]) -> Iterator[MailServerT]:
    """A test fixture's body: the server ``make`` builds, started, then stopped and
    removed; the test is skipped when the server cannot run here."""
    import pytest

    try:
        server = make()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


def one_mx(mx_host: str) -> dict[str, list[tuple[str | int, ...]]]:
    """DNS records sending ``interop.test`` to ``mx_host`` on 127.0.0.1."""
    return {f"{DOMAIN}.": [("MX", 10, f"{mx_host}.")], f"{mx_host}.": [("A", "127.0.0.1")]}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _render(template: str, workdir: Path, port: int) -> str:
    text = (HERE / template).read_text(encoding="utf-8")
    return text.replace("@DIR@", str(workdir)).replace("@PORT@", str(port))


def _need_root(name: str) -> None:
    if os.geteuid() != 0:
        raise Unavailable(f"{name} needs root to start its own instance (CI runs as root)")


def _wait_for_banner(port: int, deadline: float) -> str | None:
    """The server's first line once it answers on ``port``, or None if it never did."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2.0) as sock:
                sock.settimeout(3.0)
                with sock.makefile("rb") as reader:
                    line = reader.readline().decode("ascii", "replace")
                sock.sendall(b"QUIT\r\n")
                if line.startswith("220"):
                    return line.strip()
        except OSError:
            pass
        time.sleep(0.2)
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class MailServer:
    """What the tests use from either server."""

    name = "mail server"

    def __init__(self, mailboxes: Sequence[str], cert_pem: bytes, key_pem: bytes) -> None:
        self.mailboxes = tuple(mailboxes)
        self.port = free_port()
        # mkdtemp makes the directory 0700; the servers' unprivileged processes must be
        # able to traverse it, so it is opened up (its contents are nothing secret).
        self.workdir = Path(tempfile.mkdtemp(prefix=f"prober-{self.name.lower()}-"))
        self.workdir.chmod(0o755)
        (self.workdir / "cert.pem").write_bytes(cert_pem)
        key = self.workdir / "key.pem"
        key.write_bytes(key_pem)
        key.chmod(0o600)
        self.banner = ""

    def log(self) -> str:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def _started(self) -> None:
        banner = _wait_for_banner(self.port, time.monotonic() + START_TIMEOUT)
        if banner is None:
            log = self.log()[-3000:]
            self.stop()
            raise RuntimeError(f"{self.name} did not answer on port {self.port}; log:\n{log}")
        self.banner = banner

    def remove(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


class Postfix(MailServer):
    """``postfix -c DIR start`` with a main.cf and master.cf of its own."""

    name = "Postfix"

    def __init__(
        self,
        mailboxes: Sequence[str],
        cert_pem: bytes,
        key_pem: bytes,
        domains: Sequence[str] = (DOMAIN,),
        settings: Sequence[tuple[str, str]] = (),
    ) -> None:
        _need_root(self.name)
        found = shutil.which("postfix") or shutil.which("postfix", path="/usr/sbin:/usr/bin")
        if found is None:
            raise Unavailable("Postfix is not installed (.ci/setup-mtas installs it)")
        self.binary = found
        # The hosted domains: an address in one of them is either a listed mailbox or
        # unknown (550 5.1.1); any other domain is refused as relaying.
        self.domains = tuple(domains)
        # Extra main.cf lines (name, value) after the defaults, for experiments only.
        self.settings = tuple(settings)
        super().__init__(mailboxes, cert_pem, key_pem)

    def start(self) -> None:
        d = self.workdir
        main_cf = _render("postfix-main.cf", d, self.port)
        main_cf += "".join(f"{name} = {value}\n" for name, value in self.settings)
        (d / "main.cf").write_text(main_cf, encoding="utf-8")
        (d / "master.cf").write_text(_render("postfix-master.cf", d, self.port), encoding="utf-8")
        (d / "mailboxes").write_text(
            "".join(f"{box} {box.split('@')[0]}/\n" for box in self.mailboxes), encoding="utf-8"
        )
        (d / "domains").write_text(
            "".join(f"{domain} hosted\n" for domain in self.domains), encoding="utf-8"
        )
        # postfix-script creates the queue's subdirectories, but not the queue itself.
        (d / "queue").mkdir(mode=0o755)
        (d / "data").mkdir(mode=0o700)
        owner = pwd.getpwnam("postfix")
        os.chown(d / "data", owner.pw_uid, owner.pw_gid)
        done = subprocess.run(
            [self.binary, "-c", str(d), "start"],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            # With no terminal the postfix command reports only to its log file.
            raise RuntimeError(
                f"postfix start failed ({done.returncode}): {done.stdout}{done.stderr}\n"
                f"{self.log()[-3000:]}"
            )
        self._started()

    def _master_pid(self) -> int | None:
        try:
            return int((self.workdir / "queue" / "pid" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        pid = self._master_pid()
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                [self.binary, "-c", str(self.workdir), "stop"],
                capture_output=True,
                timeout=STOP_TIMEOUT,
                check=False,
            )
        if pid is None:
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, 9)

    def log(self) -> str:
        path = self.workdir / "maillog"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def exim_binary() -> str | None:
    """The system's exim4 or exim, else the copy that .ci/setup-mtas unpacked."""
    for name in ("exim4", "exim"):
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
        if found:
            return found
    unpacked = EXIM_ROOT / "usr" / "sbin" / "exim4"
    return str(unpacked) if os.access(unpacked, os.X_OK) else None


class Exim(MailServer):
    """``exim -bdf -oX PORT -C CONFIG``: a foreground daemon with its own configuration.

    Started by root, Exim takes a configuration file named with -C even when it is not in
    its list of trusted ones; the daemon binds a high port and never delivers anything.
    """

    name = "Exim"

    def __init__(self, mailboxes: Sequence[str], cert_pem: bytes, key_pem: bytes) -> None:
        _need_root(self.name)
        found = exim_binary()
        if found is None:
            raise Unavailable("Exim is not installed (.ci/setup-mtas unpacks it)")
        self.binary = found
        self.process: subprocess.Popen[bytes] | None = None
        super().__init__(mailboxes, cert_pem, key_pem)

    def _user(self, config: Path) -> tuple[int, int]:
        """The uid and gid that Exim receives mail as (compiled in: Debian-exim on Debian)."""
        done = subprocess.run(
            [self.binary, "-C", str(config), "-bP", "exim_user", "exim_group"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        values = dict(line.split(" = ", 1) for line in done.stdout.splitlines() if " = " in line)
        user = values.get("exim_user", "").strip()
        if done.returncode != 0 or not user:
            raise Unavailable(f"{self.binary} cannot run here: {done.stdout}{done.stderr}".strip())
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise Unavailable(f"Exim runs as {user}, who does not exist here") from None
        return entry.pw_uid, entry.pw_gid

    def start(self) -> None:
        d = self.workdir
        config = d / "exim.conf"
        local_parts = " : ".join(box.split("@")[0] for box in self.mailboxes)
        config.write_text(
            _render("exim.conf", d, self.port).replace("@LOCAL_PARTS@", local_parts),
            encoding="utf-8",
        )
        uid, gid = self._user(config)
        for sub in ("spool", "log"):
            # Asking for exim_user above may already have made them, owned by root.
            (d / sub).mkdir(exist_ok=True)
            (d / sub).chmod(0o750)
            os.chown(d / sub, uid, gid)
        # The receiving process, which runs as the Exim user, reads the key for STARTTLS.
        os.chown(d / "key.pem", uid, gid)
        with open(d / "daemon.out", "wb") as out:
            self.process = subprocess.Popen(
                [self.binary, "-bdf", "-oX", str(self.port), "-C", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._started()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        parts = []
        for name in ("daemon.out", "log/mainlog", "log/paniclog"):
            path = self.workdir / name
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "".join(parts)


def self_signed(name: str) -> tuple[bytes, bytes]:
    """A certificate for ``name`` signed by its own key, as a fresh MTA install has (and
    as most MX hosts' certificates fail to verify): PEM certificate and PEM key."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem
