"""A real LDAP server for tests: Debian's OpenLDAP `slapd` from a private `slapd.conf`.

Everything lives under the given directory (config, mdb database, TLS files, pid and log);
slapd listens on 127.0.0.1 only, plain LDAP (StartTLS offered) on one free port and LDAPS on
another, with a throwaway CA whose certificate is `ca_file`. The directory is seeded over LDAP
rather than with `slapadd`, so the memberof overlay fills in `memberOf` as it would in
production. Stopping signals the PID and waits for it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ldap3.utils.dn import escape_rdn

BASE_DN = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"
SERVICE_DN = f"cn=dockyard,ou=services,{BASE_DN}"
SERVICE_PASSWORD = "service-secret"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"

_SLAPD_CONF = """\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
pidfile {dir}/slapd.pid
argsfile {dir}/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
# Like the permissive servers out there: a DN with an empty password binds as anonymous, so
# tests can show that Dockyard never sends one.
allow bind_anon_dn
TLSCertificateFile {dir}/server.pem
TLSCertificateKeyFile {dir}/server.key
database mdb
maxsize 16777216
suffix "{base}"
rootdn "{admin_dn}"
rootpw {admin_pw}
directory {dir}/data
overlay memberof
access to attrs=userPassword by self write by anonymous auth by * none
access to * by users read by * none
"""


@dataclass(frozen=True)
class LdapUser:
    username: str
    password: str
    dn: str
    email: str
    display_name: str


USERS = {
    u.username: u
    for u in [
        LdapUser("alice", "alice-pw", f"uid=alice,{PEOPLE_DN}", "alice@example.org", "Alice A."),
        LdapUser("bob", "bob-pw", f"uid=bob,{PEOPLE_DN}", "bob@example.org", "Bob B."),
        LdapUser("carol", "carol-pw", f"uid=carol,{PEOPLE_DN}", "carol@example.org", "Carol C."),
    ]
}
# groupOfNames by DN (these get memberOf), and one posixGroup by memberUid (which does not).
# "qa, europe" needs escaping in its DN.
GROUPS = {"developers": ["alice", "bob"], "admins": ["carol"], "qa, europe": ["carol"]}
POSIX_GROUPS = {"ops": ["bob"]}


class LdapServer:
    """A running slapd; `stop()` and `start()` again on the same ports and data."""

    def __init__(self, binary: str, workdir: Path, start_timeout: float) -> None:
        self.binary = binary
        self.workdir = workdir
        self.start_timeout = start_timeout
        self.port, self.tls_port = free_port(), free_port()
        self.url = f"ldap://127.0.0.1:{self.port}"
        self.ldaps_url = f"ldaps://127.0.0.1:{self.tls_port}"
        self.base_dn = BASE_DN
        self.admin_dn, self.admin_password = ADMIN_DN, ADMIN_PASSWORD
        self.service_dn, self.service_password = SERVICE_DN, SERVICE_PASSWORD
        self.people_dn, self.groups_dn = PEOPLE_DN, GROUPS_DN
        self.users = USERS
        self.ca_file = workdir / "ca.pem"
        self.log_path = workdir / "slapd.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        urls = f"{self.url}/ {self.ldaps_url}/"
        # -d keeps slapd in the foreground, so the PID we hold is slapd's; "stats" logs each
        # operation (not passwords) and, unlike 0, also configuration errors.
        args = [self.binary, "-f", str(self.workdir / "slapd.conf"), "-h", urls, "-d", "stats"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
        _wait_until_ready(self)

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None

    def admin_connection(self) -> ldap3.Connection:
        server = ldap3.Server(self.url, get_info=ldap3.NONE, connect_timeout=2)
        return ldap3.Connection(
            server, self.admin_dn, self.admin_password, auto_bind=True, receive_timeout=5
        )


def slapd_binary() -> str | None:
    # /usr/sbin is often missing from a non-root PATH.
    found = shutil.which("slapd") or "/usr/sbin/slapd"
    return found if os.access(found, os.X_OK) else None


@contextlib.contextmanager
def slapd_server(tmp_dir: Path, start_timeout: float = 15.0) -> Iterator[LdapServer]:
    """A seeded slapd under `tmp_dir` (which must be private to it), stopped on exit."""
    binary = slapd_binary()
    if binary is None:
        raise FileNotFoundError("slapd is not installed (Debian: apt-get install slapd)")
    workdir = Path(tmp_dir)
    (workdir / "data").mkdir(parents=True, exist_ok=True)
    _write_tls_files(workdir)
    conf = _SLAPD_CONF.format(
        dir=workdir, base=BASE_DN, admin_dn=ADMIN_DN, admin_pw=ssha(ADMIN_PASSWORD)
    )
    (workdir / "slapd.conf").write_text(conf)
    server = LdapServer(binary, workdir, start_timeout)
    try:
        server.start()
        _seed(server)
        yield server
    finally:
        server.stop()


def ssha(password: str) -> str:
    """`{SSHA}` as slappasswd writes it: salted SHA-1, the salt appended to the digest."""
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _seed(server: LdapServer) -> None:
    conn = server.admin_connection()
    try:
        for dn, classes, attrs in _entries():
            if not conn.add(dn, classes, attrs):
                raise RuntimeError(f"seeding {dn} failed: {conn.result}")
    finally:
        conn.unbind()


def _entries() -> Iterator[tuple[str, list[str], dict[str, object]]]:
    yield BASE_DN, ["dcObject", "organization"], {"dc": "example", "o": "Example"}
    for ou in ("people", "groups", "services"):
        yield f"ou={ou},{BASE_DN}", ["organizationalUnit"], {"ou": ou}
    service = {"cn": "dockyard", "userPassword": ssha(SERVICE_PASSWORD)}
    yield SERVICE_DN, ["organizationalRole", "simpleSecurityObject"], service
    for user in USERS.values():
        person = {
            "uid": user.username,
            "cn": user.display_name,
            "sn": user.username.title(),
            "mail": user.email,
            "displayName": user.display_name,
            "userPassword": ssha(user.password),
        }
        yield user.dn, ["inetOrgPerson"], person
    for name, members in GROUPS.items():
        group = {"cn": name, "member": [USERS[m].dn for m in members]}
        yield f"cn={escape_rdn(name)},{GROUPS_DN}", ["groupOfNames"], group
    for gid, (name, uids) in enumerate(POSIX_GROUPS.items(), start=5000):
        posix_group = {"cn": name, "gidNumber": str(gid), "memberUid": uids}
        yield f"cn={name},{GROUPS_DN}", ["posixGroup"], posix_group


def _write_tls_files(workdir: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard test CA")])
    ca_cert = (
        _cert_builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    alt_names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        _cert_builder(server_name, ca_name, key.public_key(), now)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    (workdir / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
    (workdir / "server.pem").write_bytes(cert.public_bytes(pem))
    key_bytes = key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (workdir / "server.key").write_bytes(key_bytes)
    (workdir / "server.key").chmod(0o600)


def _cert_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:  # fmt: skip
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(server: LdapServer) -> None:
    """Until the rootdn can bind: slapd opens its listeners only after the database is up."""
    deadline = time.monotonic() + server.start_timeout
    assert server.process is not None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"slapd exited early:\n{server.log_path.read_text()[-2000:]}")
        with contextlib.suppress(ldap3.core.exceptions.LDAPException):
            server.admin_connection().unbind()
            return
        time.sleep(0.05)
    raise TimeoutError(
        f"slapd did not answer in {server.start_timeout} s:\n{server.log_path.read_text()[-2000:]}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
