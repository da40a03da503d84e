"""The OIDC relying party against a real OpenID provider (oidc-provider-mock in a thread)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from dockyard.auth.identity import ExternalIdentity, IdentityRejected, IdentitySourceUnavailable
from dockyard.auth.oidc import LoginState, OidcClient, OidcConfig
from dockyard.testing.oidc_provider import Provider, authorize, deny, oidc_provider

pytestmark = [
    pytest.mark.anyio,
    # The provider itself calls an authlib API that authlib deprecates; nothing for us to fix.
    pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning"),
]

CALLBACK = "https://registry.example.org/auth/oidc/callback"
ALICE = {
    "preferred_username": "alice",
    "email": "alice@example.org",
    "name": "Alice Liddell",
    "groups": ["developers"],
}


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    """One provider for the module; each test registers a client of its own."""
    with oidc_provider() as running:
        yield running


def config_for(provider: Provider, **extra: object) -> OidcConfig:
    client_id, secret = provider.register_client(CALLBACK)
    scopes = ["openid", "profile", "email", "groups"]
    return OidcConfig.model_validate(
        {"issuer": provider.issuer, "client_id": client_id, "client_secret": secret}
        | {"scopes": scopes, "timeout_seconds": 5}
        | extra
    )


@pytest.fixture
def config(provider: Provider) -> OidcConfig:
    return config_for(provider)


@pytest.fixture
def oidc(config: OidcConfig) -> OidcClient:
    return OidcClient(config)


@pytest.fixture
async def browser() -> AsyncIterator[httpx.AsyncClient]:
    # The provider is plain http on loopback; no CA store to load.
    async with httpx.AsyncClient(timeout=5, verify=False) as client:
        yield client


def callback_params(location: str) -> dict[str, str]:
    assert location.startswith(CALLBACK + "?")
    return dict(httpx.URL(location).params)


async def log_in(
    oidc: OidcClient, browser: httpx.AsyncClient, claims: dict[str, object] = ALICE
) -> tuple[dict[str, str], LoginState]:
    url, login = await oidc.begin(CALLBACK)
    return callback_params(await authorize(browser, url, "alice", claims)), login


async def id_token_for(config: OidcConfig, browser: httpx.AsyncClient) -> str:
    """A real ID token from the provider, exchanged by hand as another client would."""
    url, login = await OidcClient(config).begin(CALLBACK)
    params = callback_params(await authorize(browser, url, "alice", ALICE))
    data = {"grant_type": "authorization_code", "code": params["code"], "redirect_uri": CALLBACK}
    response = await browser.post(
        f"{config.issuer}/oauth2/token",
        data=data | {"code_verifier": login.code_verifier},
        auth=(config.client_id, config.client_secret),
    )
    response.raise_for_status()
    return response.json()["id_token"]


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_code_flow_gives_the_identity(
    provider: Provider, oidc: OidcClient, browser: httpx.AsyncClient
) -> None:
    url, login = await oidc.begin(CALLBACK)
    query = httpx.URL(url).params
    assert query["code_challenge_method"] == "S256"
    assert (query["state"], query["nonce"]) == (login.state, login.nonce)
    assert login.code_verifier not in url
    # The caller keeps the login in a cookie: it survives JSON.
    login = LoginState.model_validate_json(login.model_dump_json())

    params = callback_params(await authorize(browser, url, "alice", ALICE))
    identity = await oidc.finish(params, login)

    assert identity == ExternalIdentity(
        source="oidc",
        subject=f"{provider.issuer}#alice",
        username="alice",
        email="alice@example.org",
        display_name="Alice Liddell",
        groups=("developers",),
    )


async def test_wrong_or_missing_state_is_rejected(
    oidc: OidcClient, browser: httpx.AsyncClient
) -> None:
    params, login = await log_in(oidc, browser)
    with pytest.raises(IdentityRejected, match="state"):
        await oidc.finish(params | {"state": "forged"}, login)
    with pytest.raises(IdentityRejected, match="state"):
        await oidc.finish({"code": params["code"]}, login)


async def test_a_callback_naming_another_issuer_is_rejected(
    oidc: OidcClient, browser: httpx.AsyncClient
) -> None:
    params, login = await log_in(oidc, browser)
    with pytest.raises(IdentityRejected, match="another issuer"):
        await oidc.finish(params | {"iss": "https://attacker.example"}, login)


async def test_a_used_code_is_rejected(oidc: OidcClient, browser: httpx.AsyncClient) -> None:
    params, login = await log_in(oidc, browser)
    await oidc.finish(params, login)
    with pytest.raises(IdentityRejected, match="invalid_grant"):
        await oidc.finish(params, login)


async def test_nonce_mismatch_is_rejected(oidc: OidcClient, browser: httpx.AsyncClient) -> None:
    params, login = await log_in(oidc, browser)
    with pytest.raises(IdentityRejected, match="nonce"):
        await oidc.finish(params, login.model_copy(update={"nonce": "someone-elses"}))


async def test_an_old_login_is_rejected(oidc: OidcClient, browser: httpx.AsyncClient) -> None:
    params, login = await log_in(oidc, browser)
    with pytest.raises(IdentityRejected, match="too long"):
        await oidc.finish(params, login.model_copy(update={"created_at": time.time() - 3600}))


async def test_access_denied_by_the_provider(oidc: OidcClient, browser: httpx.AsyncClient) -> None:
    url, login = await oidc.begin(CALLBACK)
    params = callback_params(await deny(browser, url))
    assert params["error"] == "access_denied"
    with pytest.raises(IdentityRejected, match="access_denied"):
        await oidc.finish(params, login)


async def test_a_wrong_client_secret_is_rejected(
    config: OidcConfig, browser: httpx.AsyncClient
) -> None:
    oidc = OidcClient(config.model_copy(update={"client_secret": "guessed"}))
    params, login = await log_in(oidc, browser)
    with pytest.raises(IdentityRejected, match="invalid_client"):
        await oidc.finish(params, login)


async def test_userinfo_fills_claims_missing_from_the_id_token(
    config: OidcConfig, browser: httpx.AsyncClient
) -> None:
    paths: list[str] = []

    async def record(request: httpx.Request) -> None:
        paths.append(request.url.path)

    hooks = {"request": [record]}
    oidc = OidcClient(config, http=lambda: httpx.AsyncClient(event_hooks=hooks, verify=False))
    params, login = await log_in(oidc, browser)
    await oidc.finish(params, login)
    assert "/userinfo" not in paths

    without_groups = {k: v for k, v in ALICE.items() if k != "groups"}
    params, login = await log_in(oidc, browser, without_groups)
    identity = await oidc.finish(params, login)
    assert paths[-1] == "/userinfo"
    assert (identity.username, identity.groups) == ("alice", ())


async def test_username_falls_back_to_sub_and_unverified_email_is_dropped(
    oidc: OidcClient, browser: httpx.AsyncClient
) -> None:
    params, login = await log_in(oidc, browser, {"email": "a@x.org", "email_verified": False})
    identity = await oidc.finish(params, login)
    assert (identity.username, identity.email) == ("alice", None)


async def test_a_real_id_token_is_accepted_as_bearer(
    provider: Provider, config: OidcConfig, browser: httpx.AsyncClient
) -> None:
    token = await id_token_for(config, browser)
    assert "kid" not in jwt.get_unverified_header(token)  # the provider's quirk
    identity = await OidcClient(config).verify_id_token(token)
    assert (identity.subject, identity.groups) == (f"{provider.issuer}#alice", ("developers",))


async def test_forged_id_tokens_are_rejected(
    config: OidcConfig, browser: httpx.AsyncClient
) -> None:
    token = await id_token_for(config, browser)
    oidc = OidcClient(config)
    header_b64, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False})
    admin = claims | {"sub": "root", "groups": ["admins"]}
    own_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = (await browser.get(f"{config.issuer}/jwks")).json()
    provider_pem = jwt.PyJWK(jwks["keys"][0]).key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = {  # what an attacker sends → why we refuse it
        f"{header_b64}.{b64(admin)}.{signature}": "Signature verification failed",
        f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(admin)}.": "'none' is not accepted",
        hs256(admin, config.client_secret.encode()): "'HS256' is not accepted",
        hs256(admin, provider_pem): "'HS256' is not accepted",
        jwt.encode(admin, own_key, "RS256"): "Signature verification failed",
        jwt.encode(admin, own_key, "RS256", headers={"kid": "k2"}): "not signed by a known key",
        "not.a.jwt": "malformed",
    }
    for bad, reason in forged.items():
        with pytest.raises(IdentityRejected, match=reason):
            await oidc.verify_id_token(bad)


def hs256(claims: dict[str, object], secret: bytes) -> str:
    """HMAC by hand: PyJWT refuses PEM keys (and warns on short keys), an attacker would not."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


async def test_an_id_token_for_another_client_is_rejected(
    provider: Provider, config: OidcConfig, browser: httpx.AsyncClient
) -> None:
    other = config_for(provider)
    token = await id_token_for(other, browser)
    with pytest.raises(IdentityRejected, match="another client"):
        await OidcClient(config).verify_id_token(token)


async def test_an_expired_id_token_is_rejected(browser: httpx.AsyncClient) -> None:
    # A negative lifetime makes the real provider sign tokens that expired two minutes ago.
    with oidc_provider(token_max_age=timedelta(minutes=-2)) as provider:
        config = config_for(provider)
        token = await id_token_for(config, browser)
        with pytest.raises(IdentityRejected, match="expired"):
            await OidcClient(config).verify_id_token(token)


async def test_a_stopped_provider_is_unavailable(browser: httpx.AsyncClient) -> None:
    with oidc_provider() as provider:
        config = config_for(provider)
        token = await id_token_for(config, browser)
        warm = OidcClient(config)
        params, login = await log_in(warm, browser)
        provider.stop()

        with pytest.raises(IdentitySourceUnavailable):
            await OidcClient(config).begin(CALLBACK)
        with pytest.raises(IdentitySourceUnavailable):
            await warm.finish(params, login)
        # Cached keys keep verifying bearer tokens through a provider outage.
        assert (await warm.verify_id_token(token)).username == "alice"


async def test_an_issuer_that_differs_from_discovery_is_rejected(provider: Provider) -> None:
    config = config_for(provider, issuer=provider.issuer + "/")
    with pytest.raises(IdentityRejected, match="not the configured one"):
        await OidcClient(config).begin(CALLBACK)


def test_config_keeps_the_secret_out_of_repr_and_requires_openid() -> None:
    config = OidcConfig(
        issuer="https://id.example.org", client_id="dockyard", client_secret="s3cret", scopes=[]
    )
    assert "s3cret" not in repr(config)
    assert config.scopes == ["openid"]
    with pytest.raises(ValidationError):
        OidcConfig.model_validate(
            {"issuer": "id.example.org", "client_id": "a", "client_secret": "b"}
        )
    with pytest.raises(ValidationError):
        OidcConfig.model_validate(
            {"issuer": "https://a", "client_id": "a", "client_secret": "b", "typo": 1}
        )
