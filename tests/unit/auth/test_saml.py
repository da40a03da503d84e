"""SAML SP against a real pysaml2 IdP: the happy path and every way a response must be refused."""

from __future__ import annotations

import base64
import datetime
import re
import shutil
import socket
from pathlib import Path

import pydantic
import pytest
from saml2.md import NAMESPACE as MD_NAMESPACE
from saml2.response import IncorrectlySigned
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS as EMAIL
from saml2.saml import NAMEID_FORMAT_PERSISTENT as PERSISTENT
from saml2.saml import NAMEID_FORMAT_TRANSIENT as TRANSIENT

from dockyard.auth.identity import IdentityRejected, IdentitySourceUnavailable
from dockyard.auth.saml import SamlConfig, SamlServiceProvider
from dockyard.testing.saml_idp import SamlTestIdP, make_key_and_cert
from tests.conftest import service_missing

SP_ENTITY_ID = "https://registry.test/auth/saml/metadata"
ACS_URL = "https://registry.test/auth/saml/acs"
ALICE = {
    "uid": "alice",
    "mail": "alice@example.org",
    "displayName": "Alice Liddell",
    "groups": ["developers", "ops"],
}


@pytest.fixture(autouse=True, scope="module")
def _xmlsec1() -> None:
    if shutil.which("xmlsec1") is None:
        service_missing("xmlsec1 (Debian package xmlsec1)")


# One IdP and one SP for the module: keys and metadata are slow to make, and neither keeps
# per-login state (the outstanding request ids travel with each call, as in a session cookie).
@pytest.fixture(scope="module")
def idp(tmp_path_factory: pytest.TempPathFactory) -> SamlTestIdP:
    return SamlTestIdP(tmp_path_factory.mktemp("idp"))


def make_sp(idp: SamlTestIdP, **overrides: object) -> SamlServiceProvider:
    settings: dict[str, object] = {
        "entity_id": SP_ENTITY_ID,
        "acs_url": ACS_URL,
        "idp_metadata_xml": idp.idp_metadata(),
    }
    sp = SamlServiceProvider(SamlConfig.model_validate(settings | overrides))
    idp.trust_sp(sp.metadata())
    return sp


@pytest.fixture(scope="module")
def sp(idp: SamlTestIdP) -> SamlServiceProvider:
    return make_sp(idp)


def login(sp: SamlServiceProvider, idp: SamlTestIdP, **respond: object) -> tuple[str, str]:
    """SP.begin → IdP; returns (SAMLResponse, request id)."""
    url, request_id = sp.begin("/projects")
    _acs, saml_response, _relay = idp.respond(url, ALICE, **respond)  # type: ignore[arg-type]
    return saml_response, request_id


def edit(saml_response: str, old: str, new: str) -> str:
    xml = base64.b64decode(saml_response).decode()
    assert old in xml
    return base64.b64encode(xml.replace(old, new).encode()).decode()


def test_full_flow_gives_identity_with_groups(sp: SamlServiceProvider, idp: SamlTestIdP) -> None:
    url, request_id = sp.begin("/projects/web")
    assert url.startswith(idp.sso_url + "?SAMLRequest=")

    acs_url, saml_response, relay_state = idp.respond(url, ALICE)
    assert (acs_url, relay_state) == (ACS_URL, "/projects/web")

    identity = sp.finish(saml_response, {"id-other", request_id})
    assert identity.source == "saml"
    assert identity.subject == "alice"
    assert identity.username == "alice"
    assert identity.email == "alice@example.org"
    assert identity.display_name == "Alice Liddell"
    assert identity.groups == ("developers", "ops")


def test_line_wrapped_response_is_accepted(sp: SamlServiceProvider, idp: SamlTestIdP) -> None:
    saml_response, request_id = login(sp, idp)
    wrapped = "\r\n".join(saml_response[i : i + 76] for i in range(0, len(saml_response), 76))
    assert sp.finish(wrapped, [request_id]).username == "alice"


@pytest.mark.parametrize(
    ("user", "name_id_format", "subject", "username"),
    [
        # a transient NameID changes at every login: the username identifies the person
        (ALICE | {"name_id": "_5f3a9c"}, TRANSIENT, "alice", "alice"),
        # no username attribute: the (persistent) NameID is the username too
        ({"name_id": "u-4711", "mail": "bob@example.org"}, PERSISTENT, "u-4711", "u-4711"),
        ({"name_id": "bob@example.org", "uid": "bob"}, EMAIL, "bob@example.org", "bob"),
    ],
)  # fmt: skip
def test_subject_and_username_from_name_id(
    sp: SamlServiceProvider,
    idp: SamlTestIdP,
    user: dict[str, object],
    name_id_format: str,
    subject: str,
    username: str,
) -> None:
    url, request_id = sp.begin("/")
    _acs, saml_response, _relay = idp.respond(url, user, name_id_format=name_id_format)
    identity = sp.finish(saml_response, [request_id])
    assert (identity.subject, identity.username) == (subject, username)


def test_transient_name_id_without_username_is_rejected(
    sp: SamlServiceProvider, idp: SamlTestIdP
) -> None:
    url, request_id = sp.begin("/")
    user = {"name_id": "_5f3a9c", "mail": "eve@example.org"}
    _acs, saml_response, _relay = idp.respond(url, user, name_id_format=TRANSIENT)
    with pytest.raises(IdentityRejected, match="no 'uid' attribute"):
        sp.finish(saml_response, [request_id])


def test_attribute_names_are_configurable(idp: SamlTestIdP) -> None:
    sp = make_sp(idp, username_attribute="sAMAccountName", email_attribute="email")
    url, request_id = sp.begin("/")
    user = {"sAMAccountName": "carol", "email": "carol@example.org", "memberOf": ["CN=Dev"]}
    _acs, saml_response, _relay = idp.respond(url, user)
    identity = sp.finish(saml_response, [request_id])
    assert (identity.username, identity.email) == ("carol", "carol@example.org")
    assert identity.groups == ("CN=Dev",)  # memberOf when there is no `groups`


def test_sp_metadata_names_entity_and_acs(sp: SamlServiceProvider) -> None:
    metadata = sp.metadata()
    assert f'entityID="{SP_ENTITY_ID}"' in metadata
    assert f'Location="{ACS_URL}"' in metadata
    assert 'WantAssertionsSigned="true"' in metadata


def test_tampered_assertion_is_rejected(sp: SamlServiceProvider, idp: SamlTestIdP) -> None:
    saml_response, request_id = login(sp, idp)
    tampered = edit(saml_response, ">alice<", ">admin<")
    with pytest.raises(IdentityRejected, match="tampered"):
        sp.finish(tampered, [request_id])


def test_response_signed_by_another_key_is_rejected(
    sp: SamlServiceProvider, idp: SamlTestIdP, tmp_path: Path
) -> None:
    impostor = SamlTestIdP(tmp_path / "impostor", entity_id=idp.entity_id)
    impostor.trust_sp(sp.metadata())
    url, request_id = sp.begin("/")
    _acs, saml_response, _relay = impostor.respond(url, ALICE)
    with pytest.raises(IdentityRejected, match="not signed by the IdP"):
        sp.finish(saml_response, [request_id])


@pytest.mark.parametrize("signed", ["nothing", "response only"])
def test_unsigned_assertion_is_rejected(
    sp: SamlServiceProvider, idp: SamlTestIdP, signed: str
) -> None:
    saml_response, request_id = login(
        sp, idp, sign_assertion=False, sign_response=signed == "response only"
    )
    with pytest.raises(IdentityRejected, match="unsigned"):
        sp.finish(saml_response, [request_id])


def test_signed_response_suffices_when_assertions_need_no_signature(idp: SamlTestIdP) -> None:
    sp = make_sp(idp, want_assertions_signed=False)
    saml_response, request_id = login(sp, idp, sign_assertion=False, sign_response=True)
    assert sp.finish(saml_response, [request_id]).username == "alice"

    saml_response, request_id = login(sp, idp, sign_assertion=False, sign_response=False)
    with pytest.raises(IdentityRejected, match="unsigned"):
        sp.finish(saml_response, [request_id])


def test_other_idp_from_the_same_metadata_is_rejected(idp: SamlTestIdP, tmp_path: Path) -> None:
    # Federation metadata lists many IdPs; only the configured one may log people in.
    other = SamlTestIdP(tmp_path, entity_id="https://other-idp.test/saml/metadata")
    entities = "".join(re.sub(r"^<\?xml[^>]*\?>", "", x.idp_metadata()) for x in (idp, other))
    aggregate = f'<EntitiesDescriptor xmlns="{MD_NAMESPACE}">{entities}</EntitiesDescriptor>'
    sp = make_sp(idp, idp_metadata_xml=aggregate, idp_entity_id=idp.entity_id)
    other.trust_sp(sp.metadata())
    url, request_id = sp.begin("/")
    assert url.startswith(idp.sso_url)
    _acs, saml_response, _relay = other.respond(url, ALICE)
    with pytest.raises(IdentityRejected, match="unexpected IdP"):
        sp.finish(saml_response, [request_id])


def test_wrong_audience_is_rejected(sp: SamlServiceProvider, idp: SamlTestIdP) -> None:
    # Another SP at the same ACS URL: only the audience tells the responses apart.
    other_sp = make_sp(idp, entity_id="https://other.test/saml/metadata")
    url, request_id = other_sp.begin("/")
    _acs, saml_response, _relay = idp.respond(url, ALICE)
    with pytest.raises(IdentityRejected, match="audience"):
        sp.finish(saml_response, [request_id])


@pytest.mark.parametrize("outstanding", [[], ["id-some-other-request"]])
def test_response_to_no_outstanding_request_is_rejected(
    sp: SamlServiceProvider, idp: SamlTestIdP, outstanding: list[str]
) -> None:
    saml_response, _request_id = login(sp, idp)
    with pytest.raises(IdentityRejected, match="unsolicited"):
        sp.finish(saml_response, outstanding)


@pytest.mark.parametrize(
    ("clock_offset", "reason"),
    [(datetime.timedelta(hours=-1), "expired"), (datetime.timedelta(hours=1), "not valid yet")],
)
def test_assertion_outside_its_validity_window_is_rejected(
    sp: SamlServiceProvider, idp: SamlTestIdP, clock_offset: datetime.timedelta, reason: str
) -> None:
    saml_response, request_id = login(sp, idp, clock_offset=clock_offset)
    with pytest.raises(IdentityRejected, match=reason):
        sp.finish(saml_response, [request_id])


def test_clock_skew_within_allowance_is_accepted(idp: SamlTestIdP) -> None:
    sp = make_sp(idp, allowed_clock_skew_seconds=120)
    saml_response, request_id = login(sp, idp, clock_offset=datetime.timedelta(seconds=60))
    assert sp.finish(saml_response, [request_id]).username == "alice"


def test_response_for_another_acs_is_rejected(sp: SamlServiceProvider, idp: SamlTestIdP) -> None:
    saml_response, request_id = login(sp, idp)
    # Same entity id and IdP, another ACS: the response's Destination is not ours.
    elsewhere = SamlServiceProvider(sp.config.model_copy(update={"acs_url": ACS_URL + "2"}))
    with pytest.raises(IdentityRejected, match="not addressed to this ACS"):
        elsewhere.finish(saml_response, [request_id])


def test_idp_error_status_is_rejected(sp: SamlServiceProvider, idp: SamlTestIdP) -> None:
    url, request_id = sp.begin("/")
    _acs, saml_response, _relay = idp.refuse(url, "alice may not use the registry")
    with pytest.raises(IdentityRejected, match="the IdP refused the login") as refused:
        sp.finish(saml_response, [request_id])
    assert "alice" not in str(refused.value)


@pytest.mark.parametrize("garbage", ["", "not base64!", base64.b64encode(b"<x/>").decode()])
def test_garbage_is_rejected(sp: SamlServiceProvider, garbage: str) -> None:
    with pytest.raises(IdentityRejected):
        sp.finish(garbage, ["id-1"])


def test_signed_authn_requests(idp: SamlTestIdP, tmp_path: Path) -> None:
    strict_idp = SamlTestIdP(tmp_path / "strict", want_authn_requests_signed=True)
    key, cert = make_key_and_cert(tmp_path / "sp", "sp")
    sp = make_sp(strict_idp, sp_key_file=key, sp_cert_file=cert)
    assert 'AuthnRequestsSigned="true"' in sp.metadata()
    url, request_id = sp.begin("/")
    assert "&Signature=" in url
    _acs, saml_response, _relay = strict_idp.respond(url, ALICE)
    assert sp.finish(saml_response, [request_id]).username == "alice"

    unsigned_url, _ = make_sp(strict_idp).begin("/")
    with pytest.raises(IncorrectlySigned):
        strict_idp.respond(unsigned_url, ALICE)


def test_metadata_from_url(idp: SamlTestIdP) -> None:
    with idp.serve_metadata() as metadata_url:
        sp = make_sp_from_url(idp, metadata_url)
        url, request_id = sp.begin("/")
    _acs, saml_response, _relay = idp.respond(url, ALICE)
    assert sp.finish(saml_response, [request_id]).groups == ("developers", "ops")


def make_sp_from_url(idp: SamlTestIdP, metadata_url: str) -> SamlServiceProvider:
    config = SamlConfig(entity_id=SP_ENTITY_ID, acs_url=ACS_URL, idp_metadata_url=metadata_url)
    sp = SamlServiceProvider(config)
    idp.trust_sp(sp.metadata())
    return sp


def test_unreachable_metadata_url_is_unavailable(idp: SamlTestIdP) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    sp = make_sp_from_url(idp, f"http://127.0.0.1:{port}/saml/metadata")
    with pytest.raises(IdentitySourceUnavailable, match="metadata"):
        sp.begin("/")


def test_config_needs_exactly_one_metadata_source() -> None:
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        SamlConfig(entity_id=SP_ENTITY_ID, acs_url=ACS_URL)
    with pytest.raises(pydantic.ValidationError, match="exactly one"):
        SamlConfig(
            entity_id=SP_ENTITY_ID,
            acs_url=ACS_URL,
            idp_metadata_xml="<x/>",
            idp_metadata_url="https://idp.test/metadata",
        )
    with pytest.raises(pydantic.ValidationError, match="extra"):
        SamlConfig.model_validate(
            {"entity_id": SP_ENTITY_ID, "acs_url": ACS_URL, "idp_metadata_xml": "<x/>", "x": 1}
        )
