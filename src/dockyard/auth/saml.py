"""SAML 2.0 web SSO, service-provider side (pysaml2 + xmlsec1).

The flow: `begin()` gives the browser a redirect to the IdP (HTTP-Redirect binding) and the
AuthnRequest id, which the caller keeps in its signed session cookie; the IdP posts a
SAMLResponse to our ACS (HTTP-POST binding) and `finish()` turns it into an `ExternalIdentity`
or raises `IdentityRejected`. That cookie needs `SameSite=None; Secure`: the IdP's POST to the
ACS is cross-site, and browsers do not send `Lax` cookies with it.

pysaml2 is blocking (xmlsec1 runs as a subprocess, remote metadata is fetched synchronously), so
every method here is sync: async callers use `await asyncio.to_thread(sp.finish, ...)`. The IdP
metadata is loaded on first use, not at construction, so a registry starts while its IdP is down
and SAML logins fail with `IdentitySourceUnavailable` until it is back.

pysaml2 logs whole assertions (DEBUG), NameIDs (INFO) and failed assertions (ERROR): building a
provider sets the `saml2` logger to CRITICAL, which pysaml2 never uses, so none of that reaches
the logs. Rejections carry our own wording only, never pysaml2's message.
"""

from __future__ import annotations

import base64
import binascii
import logging
import shutil
import threading
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, SAMLError
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.response import (
    IncorrectlySigned,
    StatusError,
    UnsolicitedResponse,
    VerificationError,
)
from saml2.saml import NAMEID_FORMAT_TRANSIENT
from saml2.sigver import SigverError
from saml2.validate import ResponseLifetimeExceed, ToEarly
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

from dockyard.auth.identity import ExternalIdentity, IdentityRejected, IdentitySourceUnavailable

log = logging.getLogger(__name__)

METADATA_TIMEOUT_SECONDS = 10.0
METADATA_RETRY_SECONDS = 60.0
MAX_RESPONSE_BYTES = 1024 * 1024
GROUPS = ["groups", "memberOf"]


class SamlConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    entity_id: str = Field(description="this registry's SP entity id, e.g. its metadata URL")
    acs_url: str = Field(
        description="assertion consumer service, e.g. https://registry.example.org/auth/saml/acs"
    )
    idp_metadata_url: str | None = Field(None, description="where to fetch the IdP metadata")
    idp_metadata_file: Path | None = Field(None, description="IdP metadata XML file")
    idp_metadata_xml: str | None = Field(None, description="IdP metadata XML, inline")
    idp_entity_id: str | None = Field(
        None, description="which IdP, when the metadata describes several; default the only one"
    )
    idp_metadata_refresh_seconds: int = Field(
        3600, ge=60, description="how often metadata from a URL is fetched again (cert rollover)"
    )
    sp_cert_file: Path | None = Field(None, description="SP certificate (PEM), published")
    sp_key_file: Path | None = Field(None, description="SP private key (PEM): signs AuthnRequests")
    want_assertions_signed: bool = Field(
        True,
        description="the assertion itself must be signed; false also accepts a signature on the "
        "response only. An unsigned response is never accepted.",
    )
    username_attribute: str = Field("uid", description="attribute with the username; else NameID")
    email_attribute: str = Field("mail", description="attribute with the email address")
    display_name_attribute: str = Field("displayName", description="attribute with the full name")
    groups_attribute: str | None = Field(
        None, description="attribute with the group names; default `groups`, else `memberOf`"
    )
    display_name: str = Field("SAML", description="label of the login button")
    xmlsec_binary: str | None = Field(None, description="path of xmlsec1; default found on PATH")
    allowed_clock_skew_seconds: int = Field(
        60, ge=0, le=600, description="tolerated clock difference with the IdP"
    )

    @model_validator(mode="after")
    def _one_metadata_source(self) -> Self:
        sources = [self.idp_metadata_url, self.idp_metadata_file, self.idp_metadata_xml]
        if sum(source is not None for source in sources) != 1:
            raise ValueError(
                "set exactly one of idp_metadata_url, idp_metadata_file, idp_metadata_xml"
            )
        if (self.sp_cert_file is None) != (self.sp_key_file is None):
            raise ValueError("sp_cert_file and sp_key_file go together")
        return self


class SamlServiceProvider:
    """One SP for one IdP. Thread-safe: `finish()` may run in several threads at once."""

    def __init__(self, config: SamlConfig) -> None:
        self.config = config
        self._xmlsec = shutil.which(config.xmlsec_binary or "xmlsec1")
        if self._xmlsec is None:
            raise ValueError("SAML needs xmlsec1 (Debian: apt-get install xmlsec1)")
        self._lock = threading.Lock()
        self._client: Saml2Client | None = None
        self._reload_at = 0.0
        self._metadata: str | None = None
        # Assertions and NameIDs must not reach the logs (see the module docstring).
        logging.getLogger("saml2").setLevel(logging.CRITICAL)

    def metadata(self) -> str:
        """The SP metadata XML: entity id, ACS (HTTP-POST), and the signing cert if any."""
        # Built once: pysaml2 runs xmlsec1 and loads the key to build it.
        if self._metadata is None:
            config = self._sp_config(idp_metadata=None)
            self._metadata = create_metadata_string(None, config=config).decode()
        return self._metadata

    def begin(self, relay_state: str, request_id: str | None = None) -> tuple[str, str]:
        """The IdP URL to redirect the browser to, and the AuthnRequest id to keep until the
        response comes back (its InResponseTo must be one of the outstanding ids).

        The RelayState comes back unsigned: treat it as untrusted (a local path at most). A
        caller that must know the id before the request exists (to sign it into the RelayState)
        passes its own `request_id`."""
        client = self._saml_client()
        extra = {"message_id": request_id} if request_id else {}
        try:
            request_id, info = client.prepare_for_authenticate(
                entityid=self._idp_entity_id(client),
                relay_state=relay_state,
                binding=BINDING_HTTP_REDIRECT,
                sign=self.config.sp_key_file is not None,
                sigalg=client.signing_algorithm,
                **extra,
            )
        except SAMLError as exc:  # e.g. no HTTP-Redirect SSO endpoint in the metadata
            reason = f"cannot start a SAML login with this IdP metadata: {type(exc).__name__}"
            raise IdentitySourceUnavailable(reason) from None
        return str(dict(info["headers"])["Location"]), str(request_id)

    def finish(
        self, saml_response_b64: str, outstanding_request_ids: Collection[str]
    ) -> ExternalIdentity:
        """Verify a SAMLResponse posted to the ACS and return who it vouches for.

        Checks: the signature against the IdP metadata certificates only, Destination is our
        ACS, audience is our entity id, InResponseTo is outstanding, the validity window.
        There is no replay cache here: the caller forgets a request id once it was used."""
        _check_base64(saml_response_b64)
        client = self._saml_client()
        outstanding = {request_id: "" for request_id in outstanding_request_ids}
        try:
            response = client.parse_authn_request_response(
                saml_response_b64, BINDING_HTTP_POST, outstanding=outstanding
            )
        except Exception as exc:  # pysaml2 raises bare Exception for several checks
            raise IdentityRejected(_rejection_reason(exc)) from None
        if response is None or response.assertion is None:
            raise IdentityRejected("SAML response rejected: not addressed to this ACS or malformed")
        if response.in_response_to not in outstanding:
            raise IdentityRejected("SAML response rejected: unsolicited (no outstanding request)")
        # The signature was checked with the certs of whoever the Issuer claims to be; with
        # aggregate metadata (several IdPs) that must be our IdP, not just any listed one.
        idp = self._idp_entity_id(client)
        assertion_issuer = getattr(response.assertion.issuer, "text", None) or ""
        issuers = {response.issuer() or idp, assertion_issuer.strip()}
        if issuers != {idp}:
            raise IdentityRejected("SAML response rejected: issued by an unexpected IdP")
        return self._identity(response)

    def _identity(self, response: Any) -> ExternalIdentity:
        attributes = _attributes(response)
        name_id = response.name_id
        name_id_text = (name_id.text or "").strip() if name_id is not None else ""
        username = _first(attributes, self.config.username_attribute)
        # A transient NameID changes at every login: then the username identifies the person.
        if name_id_text and name_id.format != NAMEID_FORMAT_TRANSIENT:
            subject = name_id_text
            username = username or name_id_text
        elif username:
            subject = username
        else:
            raise IdentityRejected(
                f"SAML response rejected: no {self.config.username_attribute!r} attribute and "
                "no persistent NameID"
            )
        names = [self.config.groups_attribute] if self.config.groups_attribute else GROUPS
        groups = next((values for n in names if (values := _all(attributes, n))), [])
        return ExternalIdentity(
            source="saml",
            subject=subject,
            username=username,
            email=_first(attributes, self.config.email_attribute),
            display_name=_first(attributes, self.config.display_name_attribute),
            groups=tuple(dict.fromkeys(g for g in groups if g)),
        )

    def _saml_client(self) -> Saml2Client:
        with self._lock:
            due = self.config.idp_metadata_url is not None and time.monotonic() >= self._reload_at
            client = self._client
            if client is None or due:
                try:
                    config = self._sp_config(idp_metadata=self._idp_metadata())
                except IdentitySourceUnavailable:
                    if client is None:
                        raise
                    # Keep the metadata we have rather than fail every login during an outage.
                    log.warning("SAML: IdP metadata refresh failed, keeping the previous one")
                    self._reload_at = time.monotonic() + METADATA_RETRY_SECONDS
                else:
                    client = Saml2Client(config=config, identity_cache=_NoIdentityCache())
                    self._client = client
                    self._reload_at = time.monotonic() + self.config.idp_metadata_refresh_seconds
            return client

    def _idp_metadata(self) -> str:
        if self.config.idp_metadata_xml is not None:
            return self.config.idp_metadata_xml
        if self.config.idp_metadata_file is not None:
            try:
                return self.config.idp_metadata_file.read_text()
            except OSError as exc:
                raise IdentitySourceUnavailable(
                    f"cannot read the SAML IdP metadata file: {exc.strerror}"
                ) from None
        url = str(self.config.idp_metadata_url)
        try:
            answer = httpx.get(url, timeout=METADATA_TIMEOUT_SECONDS, follow_redirects=True)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise IdentitySourceUnavailable(
                f"cannot fetch the SAML IdP metadata from {url}: {type(exc).__name__}"
            ) from None
        return answer.text

    def _sp_config(self, idp_metadata: str | None) -> SPConfig:
        cfg = self.config
        sp: dict[str, Any] = {
            "endpoints": {"assertion_consumer_service": [(cfg.acs_url, BINDING_HTTP_POST)]},
            "allow_unsolicited": False,
            # Many IdPs sign only the assertion (ADFS, Okta) or only the response (Keycloak).
            "want_response_signed": False,
            "want_assertions_signed": cfg.want_assertions_signed,
            "want_assertions_or_response_signed": True,
            "authn_requests_signed": cfg.sp_key_file is not None,
        }
        settings: dict[str, Any] = {
            "entityid": cfg.entity_id,
            "xmlsec_binary": self._xmlsec,
            "accepted_time_diff": cfg.allowed_clock_skew_seconds,
            # Only certificates from the IdP metadata count, never one sent inside the response.
            "only_use_keys_in_metadata": True,
            # IdPs send groups under names pysaml2's attribute maps do not know.
            "allow_unknown_attributes": True,
            "signing_algorithm": SIG_RSA_SHA256,
            "digest_algorithm": DIGEST_SHA256,
            "service": {"sp": sp},
            "metadata": {"inline": [idp_metadata]} if idp_metadata else {},
        }
        if cfg.sp_key_file is not None and cfg.sp_cert_file is not None:
            settings |= {"key_file": str(cfg.sp_key_file), "cert_file": str(cfg.sp_cert_file)}
        sp_config = SPConfig()
        try:
            sp_config.load(settings)
        except Exception as exc:  # XML errors, expired metadata (ToOld), bad keys, …
            raise IdentitySourceUnavailable(
                f"the SAML settings or IdP metadata cannot be used: {type(exc).__name__}"
            ) from None
        return sp_config

    def _idp_entity_id(self, client: Saml2Client) -> str:
        if self.config.idp_entity_id is not None:
            return self.config.idp_entity_id
        idps = list(client.metadata.identity_providers())
        if len(idps) != 1:
            found = f"{len(idps)} IdPs; set idp_entity_id" if idps else "no IdP (or it expired)"
            raise IdentitySourceUnavailable(f"the SAML metadata describes {found}")
        return str(idps[0])


class _NoIdentityCache:
    """pysaml2 would otherwise keep every logged-in person's attributes in memory, forever."""

    def set(self, *args: object) -> None:
        pass


def _check_base64(saml_response_b64: str) -> None:
    if len(saml_response_b64) > MAX_RESPONSE_BYTES:
        raise IdentityRejected("SAML response rejected: too large")
    try:
        # Some IdPs (Shibboleth) wrap the base64 in lines; pysaml2 decodes it leniently.
        base64.b64decode("".join(saml_response_b64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise IdentityRejected("SAML response rejected: not base64") from None


def _rejection_reason(exc: Exception) -> str:
    # pysaml2's messages can quote the response; only our own wording goes out.
    text = str(exc)
    if isinstance(exc, SigverError | IncorrectlySigned) or "signed" in text or "ignature" in text:
        reason = "unsigned, tampered, or not signed by the IdP in the metadata"
    elif isinstance(exc, ResponseLifetimeExceed):
        reason = "expired"
    elif isinstance(exc, ToEarly):
        reason = "not valid yet (check the clocks)"
    elif "AudienceRestriction" in text:
        reason = "wrong audience (meant for another service provider)"
    elif isinstance(exc, UnsolicitedResponse) or "don't recall" in text:
        reason = "unsolicited or replayed (InResponseTo is not an outstanding request)"
    elif isinstance(exc, VerificationError):
        reason = "its conditions are not met (validity window, audience)"
    elif isinstance(exc, StatusError):
        reason = f"the IdP refused the login ({type(exc).__name__})"
    else:
        reason = f"invalid ({type(exc).__name__})"
    return f"SAML response rejected: {reason}"


def _attributes(response: Any) -> dict[str, list[str]]:
    """Attribute values under pysaml2's local name, the SAML Name and the FriendlyName, so a
    configured `urn:oid:…` name or a friendly one both match."""
    attributes: dict[str, list[str]] = {k: [str(v) for v in vs] for k, vs in response.ava.items()}
    for statement in response.assertion.attribute_statement:
        for attribute in statement.attribute:
            values = [(value.text or "").strip() for value in attribute.attribute_value]
            for name in (attribute.name, attribute.friendly_name):
                if name:
                    attributes.setdefault(name, values)
    return attributes


def _all(attributes: Mapping[str, list[str]], name: str) -> list[str]:
    values = attributes.get(name)
    if values is None:
        lowered = name.lower()
        values = next((v for k, v in attributes.items() if k.lower() == lowered), [])
    return [v for v in values if v]


def _first(attributes: Mapping[str, list[str]], name: str) -> str | None:
    return next(iter(_all(attributes, name)), None)
