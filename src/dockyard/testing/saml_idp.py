"""A real SAML 2.0 identity provider for tests: pysaml2's `saml2.server.Server`, in process.

It does what an IdP's SSO endpoint does with the HTTP-Redirect binding: inflate and check the
SP's AuthnRequest (`parse_authn_request`), then answer with a signed `<samlp:Response>` for the
HTTP-POST binding. Its key and self-signed certificate are generated into a temporary directory.

    idp = SamlTestIdP(tmp_path)
    sp = SamlServiceProvider(SamlConfig(..., idp_metadata_xml=idp.idp_metadata()))
    idp.trust_sp(sp.metadata())   # the metadata handshake: the IdP learns the SP's ACS
    url, request_id = sp.begin("/after-login")
    acs_url, saml_response, relay_state = idp.respond(url, {"uid": "alice", "groups": ["dev"]})

`serve_metadata()` also publishes the IdP metadata over HTTP on 127.0.0.1 (a free port), for
code that fetches `idp_metadata_url`.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import http.server
import os
import shutil
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml, samlp
from saml2.assertion import Policy
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

with warnings.catch_warnings():
    # pysaml2 7.5's server module imports CFB from where cryptography 47+ deprecates it.
    warnings.simplefilter("ignore", CryptographyDeprecationWarning)
    from saml2.server import Server

IDP_ENTITY_ID = "https://idp.test/saml/metadata"
IDP_SSO_URL = "https://idp.test/saml/sso/redirect"


def make_key_and_cert(directory: Path, common_name: str) -> tuple[Path, Path]:
    """An RSA key and a self-signed certificate for it, as PEM files in `directory`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    key_path, cert_path = directory / f"{common_name}.key", directory / f"{common_name}.crt"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class SamlTestIdP:
    """One IdP; two instances with the same `entity_id` have different keys (impostor tests)."""

    def __init__(
        self,
        workdir: Path | None = None,
        *,
        entity_id: str = IDP_ENTITY_ID,
        sso_url: str = IDP_SSO_URL,
        xmlsec_binary: str | None = None,
        want_authn_requests_signed: bool = False,
    ) -> None:
        # Without a workdir the key lives in a private temporary directory until close().
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="dockyard-saml-idp-"))
        self.entity_id = entity_id
        self.sso_url = sso_url
        self.key_file, self.cert_file = make_key_and_cert(self.workdir, _file_stem(entity_id))
        self.want_authn_requests_signed = want_authn_requests_signed
        config = IdPConfig()
        config.load(self._settings(xmlsec_binary or shutil.which("xmlsec1") or "xmlsec1"))
        # SPs are added to its metadata store later, by trust_sp().
        self.server = Server(config=config)
        self._metadata: str | None = None

    def _settings(self, xmlsec_binary: str) -> dict[str, Any]:
        return {
            "entityid": self.entity_id,
            "xmlsec_binary": xmlsec_binary,
            "key_file": str(self.key_file),
            "cert_file": str(self.cert_file),
            "allow_unknown_attributes": True,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "service": {
                "idp": {
                    "endpoints": {
                        "single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)],
                    },
                    "name_id_format": [saml.NAMEID_FORMAT_PERSISTENT],
                    "want_authn_requests_signed": self.want_authn_requests_signed,
                },
            },
            "metadata": {},
        }

    def idp_metadata(self) -> str:
        """This IdP's metadata XML: entity id, SSO endpoint (HTTP-Redirect), signing cert."""
        if self._metadata is None:
            config = self.server.config
            self._metadata = create_metadata_string(None, config=config).decode()
        return self._metadata

    def trust_sp(self, sp_metadata_xml: str) -> None:
        """Learn an SP from its metadata, as an admin registering the SP at the IdP would."""
        self.server.metadata.load("inline", sp_metadata_xml)

    def respond(
        self,
        authn_request_redirect_url: str,
        user: Mapping[str, Any],
        *,
        sign_response: bool = True,
        sign_assertion: bool = True,
        clock_offset: datetime.timedelta = datetime.timedelta(0),
        name_id_format: str = saml.NAMEID_FORMAT_PERSISTENT,
    ) -> tuple[str, str, str]:
        """Answer the AuthnRequest in the redirect URL for `user`: its keys are attribute names
        (uid, mail, displayName, groups, …) with a string or a list of strings, and optionally
        `name_id` (default: the uid). Returns (ACS URL, base64 SAMLResponse, RelayState).

        The assertion is valid for 15 minutes from now + `clock_offset`: an offset of -1 h gives
        an assertion that has expired, +1 h one that is not valid yet (an IdP with a bad clock)."""
        request, relay_state = self._authn_request(authn_request_redirect_url)
        # The ACS comes from the SP's metadata (trust_sp), as at a real IdP.
        acs_url = self.server.response_args(request, [BINDING_HTTP_POST])["destination"]
        name_id = str(user.get("name_id", user.get("uid", "")))
        response = self.server.create_authn_response(
            identity=_identity(user),
            in_response_to=request.id,
            destination=acs_url,
            sp_entity_id=request.issuer.text,
            name_id=saml.NameID(format=name_id_format, text=name_id),
            authn={"class_ref": saml.AUTHN_PASSWORD_PROTECTED},
            sign_response=sign_response,
            sign_assertion=sign_assertion,
            release_policy=_ShiftedPolicy(clock_offset),
        )
        return acs_url, base64.b64encode(str(response).encode()).decode(), relay_state

    def refuse(self, authn_request_redirect_url: str, message: str) -> tuple[str, str, str]:
        """Answer with a signed error status instead of an assertion (the person may not use
        this application). Returns (ACS URL, base64 SAMLResponse, RelayState)."""
        request, relay_state = self._authn_request(authn_request_redirect_url)
        acs_url = self.server.response_args(request, [BINDING_HTTP_POST])["destination"]
        response = self.server.create_error_response(
            request.id, acs_url, (samlp.STATUS_REQUEST_DENIED, message), sign=True
        )
        return acs_url, base64.b64encode(str(response).encode()).decode(), relay_state

    def _authn_request(self, redirect_url: str) -> tuple[Any, str]:
        """What the SSO endpoint does with a GET: inflate, check Destination and, when the SP
        signs its requests, the signature over the query string."""
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirect_url).query).items()}
        relay_state = query.get("RelayState", "")
        parsed = self.server.parse_authn_request(
            query["SAMLRequest"],
            BINDING_HTTP_REDIRECT,
            relay_state=relay_state,
            sigalg=query.get("SigAlg"),
            signature=query.get("Signature"),
        )
        if parsed is None:
            raise ValueError("the AuthnRequest is invalid (destination or format)")
        return parsed.message, relay_state

    @contextlib.contextmanager
    def serve_metadata(self) -> Iterator[str]:
        """Serve this IdP's metadata on 127.0.0.1 (free port); yields its URL."""
        body = self.idp_metadata().encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/samlmetadata+xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}/saml/metadata"
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()

    def close(self) -> None:
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SamlTestIdP:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _identity(user: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        name: [value] if isinstance(value, str) else [str(v) for v in value]
        for name, value in user.items()
        if name != "name_id" and value is not None
    }


class _ShiftedPolicy(Policy):
    """Releases every attribute; the validity window starts at now + offset. pysaml2 takes
    NotBefore from the wall clock, so an expired assertion needs both ends moved."""

    LIFETIME = datetime.timedelta(minutes=15)

    def __init__(self, offset: datetime.timedelta) -> None:
        super().__init__({"default": {"attribute_restrictions": None}})
        self.start = datetime.datetime.now(datetime.UTC) + offset

    def not_on_or_after(self, sp_entity_id: str) -> str:
        return _saml_time(self.start + self.LIFETIME)

    def conditions(self, sp_entity_id: str) -> saml.Conditions:
        audience = saml.Audience(text=sp_entity_id)
        return saml.Conditions(
            not_before=_saml_time(self.start),
            not_on_or_after=self.not_on_or_after(sp_entity_id),
            audience_restriction=[saml.AudienceRestriction(audience=[audience])],
        )


def _saml_time(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_stem(entity_id: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in entity_id)[-60:] + "-" + os.urandom(3).hex()
