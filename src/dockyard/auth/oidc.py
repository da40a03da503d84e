"""OpenID Connect relying party: the authorization code flow with PKCE, and ID token checks.

The browser flow is `begin` (redirect to the provider) then `finish` (the callback). Between the
two the caller keeps a `LoginState` in a signed session cookie. ID tokens are checked with the
provider's published keys only: asymmetric algorithms, never `none` and never HMAC, so a token
signed with the (shared) client secret is refused rather than trusted.
"""

from __future__ import annotations

import hmac
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dockyard.auth.identity import ExternalIdentity, IdentityRejected, IdentitySourceUnavailable

# Clock skew between us and the provider; ID tokens usually live minutes, so keep it small.
LEEWAY_SECONDS = 30
# A login the user abandons must not stay usable for long from a stolen cookie.
LOGIN_MAX_AGE_SECONDS = 600
DISCOVERY_TTL_SECONDS = 3600
# An unknown `kid` refetches the JWKS (key rotation), but bearer tokens with random kids must not
# turn us into a request amplifier against the provider.
JWKS_REFRESH_MIN_SECONDS = 60
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
SIGNING_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class OidcConfig(BaseModel):
    """One OpenID provider, and how its claims become a Dockyard identity."""

    model_config = ConfigDict(extra="forbid")

    issuer: str = Field(
        description="issuer URL exactly as the provider states it; discovery is read from "
        "{issuer}/.well-known/openid-configuration"
    )
    client_id: str = Field(description="client ID registered at the provider")
    client_secret: str = Field(repr=False, description="client secret registered at the provider")
    scopes: list[str] = Field(
        default_factory=lambda: ["openid", "profile", "email"],
        description='scopes to request; add "groups" where the provider needs it for groups',
    )
    username_claim: str = Field(
        "preferred_username", description="claim used as the username; `sub` when it is absent"
    )
    groups_claim: str = Field("groups", description="claim listing the person's groups")
    email_claim: str = Field("email", description="claim holding the e-mail address")
    display_name: str = Field("Single sign-on", description="label of the login button")
    timeout_seconds: float = Field(10.0, gt=0, description="timeout of each provider request")
    verify_tls: bool = Field(True, description="verify the provider's TLS certificate")
    ca_file: Path | None = Field(
        None, description="PEM file of CAs to trust for the provider instead of the system store"
    )

    @field_validator("issuer")
    @classmethod
    def _issuer_is_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ValueError("issuer must be an http(s) URL without a query")
        return value

    @field_validator("scopes")
    @classmethod
    def _openid_scope(cls, value: list[str]) -> list[str]:
        return value if "openid" in value else ["openid", *value]


class LoginState(BaseModel):
    """What the browser carries from `begin` to `finish`, in a signed (not secret) cookie.

    Nothing here is a secret from the user themself: PKCE and the nonce protect against a third
    party who intercepts the code or injects a token, not against the browser's owner.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    created_at: float


@dataclass
class _Provider:
    metadata: dict[str, Any]
    fetched_at: float
    keys: list[dict[str, Any]] = field(default_factory=list)
    keys_fetched_at: float = 0.0


class OidcClient:
    """A relying party for one provider. Discovery and keys are cached on the instance."""

    def __init__(
        self, config: OidcConfig, *, http: Callable[[], httpx.AsyncClient] | None = None
    ) -> None:
        """`http` makes the client for each exchange with the provider (tests watch requests
        with it); the default one honours timeout_seconds, verify_tls and ca_file."""
        self.config = config
        self._http = http or self._default_http
        self._verify: bool | ssl.SSLContext = False
        if config.verify_tls:
            # Built once: loading a CA store per request would cost milliseconds each time.
            self._verify = ssl.create_default_context(
                cafile=str(config.ca_file) if config.ca_file else None
            )
        self._provider: _Provider | None = None

    def _default_http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            verify=self._verify,
            timeout=self.config.timeout_seconds,
            headers={"accept": "application/json"},
        )

    async def begin(self, redirect_uri: str) -> tuple[str, LoginState]:
        """The provider's authorization URL to send the browser to, and the state to keep."""
        provider = await self._discover()
        login = LoginState(
            state=generate_token(32),
            nonce=generate_token(32),
            code_verifier=generate_token(64),
            redirect_uri=redirect_uri,
            created_at=time.time(),
        )
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self.config.scopes),
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": create_s256_code_challenge(login.code_verifier),
            "code_challenge_method": "S256",
        }
        url = httpx.URL(provider.metadata["authorization_endpoint"]).copy_merge_params(params)
        return str(url), login

    async def finish(self, params: Mapping[str, str], login: LoginState) -> ExternalIdentity:
        """Complete a login from the callback's query parameters."""
        code = _callback_code(params, login)
        provider = await self._discover()
        # RFC 9207: a callback naming another issuer is a mix-up attack.
        if "iss" in params and params["iss"] != provider.metadata["issuer"]:
            raise IdentityRejected("the callback comes from another issuer")
        async with self._http() as http:
            tokens = await self._exchange(http, provider, code, login)
            id_token = tokens.get("id_token")
            if not isinstance(id_token, str):
                raise IdentityRejected("the token response has no ID token")
            claims = await self._verified_claims(provider, id_token)
            nonce = str(claims.get("nonce", ""))
            if not hmac.compare_digest(nonce.encode(), login.nonce.encode()):
                raise IdentityRejected("the ID token's nonce does not match this login")
            if self._missing_claims(claims) and isinstance(tokens.get("access_token"), str):
                claims = await self._with_userinfo(http, provider, tokens["access_token"], claims)
        return self._identity(claims)

    async def verify_id_token(self, token: str) -> ExternalIdentity:
        """The identity in an ID token presented as a bearer token (no nonce to compare)."""
        provider = await self._discover()
        return self._identity(await self._verified_claims(provider, token))

    async def _discover(self) -> _Provider:
        cached = self._provider
        if cached is not None and time.monotonic() - cached.fetched_at < DISCOVERY_TTL_SECONDS:
            return cached
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        async with self._http() as http:
            metadata = _json_object(await _send(http, "GET", url), "discovery")
            for key in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(metadata.get(key), str):
                    raise IdentitySourceUnavailable(f"OIDC discovery lacks {key}")
            if metadata["issuer"] != self.config.issuer:
                name = metadata["issuer"]
                raise IdentityRejected(f"the provider's issuer {name!r} is not the configured one")
            provider = _Provider(metadata=metadata, fetched_at=time.monotonic())
            await self._fetch_keys(http, provider)
        self._provider = provider
        return provider

    async def _fetch_keys(self, http: httpx.AsyncClient, provider: _Provider) -> None:
        jwks = _json_object(await _send(http, "GET", provider.metadata["jwks_uri"]), "JWKS")
        keys = jwks.get("keys")
        if not isinstance(keys, list):
            raise IdentitySourceUnavailable("the provider's JWKS has no key list")
        provider.keys = [key for key in keys if isinstance(key, dict)]
        provider.keys_fetched_at = time.monotonic()

    async def _exchange(
        self, http: httpx.AsyncClient, provider: _Provider, code: str, login: LoginState
    ) -> dict[str, Any]:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": login.redirect_uri,
            "code_verifier": login.code_verifier,
        }
        # OIDC Discovery: absent means client_secret_basic.
        methods = provider.metadata.get(
            "token_endpoint_auth_methods_supported", ["client_secret_basic"]
        )
        client_id, secret = self.config.client_id, self.config.client_secret
        auth: httpx.BasicAuth | None = None
        if "client_secret_basic" in methods:
            # RFC 6749 2.3.1: both parts are form-encoded before they go into the header.
            auth = httpx.BasicAuth(quote(client_id, safe=""), quote(secret, safe=""))
        elif "client_secret_post" in methods:
            data |= {"client_id": client_id, "client_secret": secret}
        else:
            raise IdentityRejected(f"no supported token endpoint authentication in {methods}")
        endpoint = provider.metadata["token_endpoint"]
        response = await _send(http, "POST", endpoint, data=data, auth=auth)
        if response.status_code != 200:
            error = _oauth_error(response)
            raise IdentityRejected(f"the provider did not accept the authorization code: {error}")
        return _json_object(response, "token response")

    async def _verified_claims(self, provider: _Provider, token: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise IdentityRejected("the ID token is malformed") from exc
        alg = header.get("alg")
        allowed = provider.metadata.get("id_token_signing_alg_values_supported", ["RS256"])
        if alg not in SIGNING_ALGORITHMS or alg not in allowed:
            raise IdentityRejected(f"ID token algorithm {alg!r} is not accepted")
        key = await self._signing_key(provider, header.get("kid"), alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.config.client_id,
                issuer=provider.metadata["issuer"],
                leeway=LEEWAY_SECONDS,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise IdentityRejected("the ID token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise IdentityRejected("the ID token was issued for another client") from exc
        except jwt.PyJWTError as exc:
            raise IdentityRejected(f"the ID token is invalid: {exc}") from exc
        # OIDC Core 3.1.3.7: with several audiences, azp names the client it was issued to.
        if claims.get("azp", self.config.client_id) != self.config.client_id:
            raise IdentityRejected("the ID token was issued for another client")
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise IdentityRejected("the ID token has no subject")
        return claims

    async def _signing_key(self, provider: _Provider, kid: object, alg: str) -> Any:
        keys = _matching_keys(provider.keys, kid, alg)
        stale = time.monotonic() - provider.keys_fetched_at > JWKS_REFRESH_MIN_SECONDS
        if not keys and stale:
            async with self._http() as http:
                await self._fetch_keys(http, provider)
            keys = _matching_keys(provider.keys, kid, alg)
        # Without a kid (oidc-provider-mock does this) only an unambiguous key will do.
        if not keys or (kid is None and len(keys) > 1):
            raise IdentityRejected("the ID token is not signed by a known key of the provider")
        try:
            return jwt.PyJWK(keys[0], algorithm=alg).key
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise IdentityRejected("the provider's signing key is unusable") from exc

    def _missing_claims(self, claims: Mapping[str, Any]) -> bool:
        wanted = (self.config.username_claim, self.config.email_claim, self.config.groups_claim)
        return any(name not in claims for name in wanted)

    async def _with_userinfo(
        self, http: httpx.AsyncClient, provider: _Provider, token: str, claims: dict[str, Any]
    ) -> dict[str, Any]:
        endpoint = provider.metadata.get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return claims
        headers = {"authorization": f"Bearer {token}"}
        response = await _send(http, "GET", endpoint, headers=headers)
        if response.status_code != 200:
            raise IdentityRejected(f"the userinfo endpoint refused: {_oauth_error(response)}")
        info = _json_object(response, "userinfo")
        # OIDC Core 5.3.2: userinfo about someone else must not be used.
        if info.get("sub") != claims["sub"]:
            raise IdentityRejected("userinfo is about another subject")
        return {**info, **claims}

    def _identity(self, claims: Mapping[str, Any]) -> ExternalIdentity:
        sub: str = claims["sub"]
        email = _text(claims.get(self.config.email_claim))
        # An address the provider has not verified must not link accounts.
        if claims.get("email_verified") is False:
            email = None
        groups = claims.get(self.config.groups_claim)
        if isinstance(groups, str):
            groups = [groups]
        return ExternalIdentity(
            source="oidc",
            subject=f"{claims['iss']}#{sub}",
            username=_text(claims.get(self.config.username_claim)) or sub,
            email=email,
            display_name=_text(claims.get("name")),
            groups=tuple(g for g in groups or () if isinstance(g, str) and g),
        )


def _callback_code(params: Mapping[str, str], login: LoginState) -> str:
    """The authorization code of a callback that answers this login."""
    if time.time() - login.created_at > LOGIN_MAX_AGE_SECONDS:
        raise IdentityRejected("the login took too long; start again")
    state_ok = hmac.compare_digest(params.get("state", "").encode(), login.state.encode())
    if "error" in params:
        # Refused either way, so the error is named even without a state (oidc-provider-mock
        # omits it); free text only with the state, as anyone can link a user to our callback.
        error = params["error"] if _ERROR_CODE.fullmatch(params["error"]) else "unknown error"
        detail = params.get("error_description", "")[:200] if state_ok else ""
        raise IdentityRejected(f"the provider refused the login: {error} {detail}".rstrip())
    if not state_ok:
        raise IdentityRejected("the login state does not match; start again")
    code = params.get("code")
    if not code:
        raise IdentityRejected("the provider sent no authorization code")
    return code


def _matching_keys(keys: list[dict[str, Any]], kid: object, alg: str) -> list[dict[str, Any]]:
    return [
        key
        for key in keys
        if key.get("kty") == _KEY_TYPES.get(alg[:2])
        and key.get("use", "sig") == "sig"
        and key.get("alg", alg) == alg
        and (kid is None or key.get("kid") == kid)
    ]


async def _send(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    try:
        response = await http.request(method, url, **kwargs)
    except httpx.RequestError as exc:
        why = f"{urlsplit(url).netloc} unreachable: {type(exc).__name__}"
        raise IdentitySourceUnavailable(f"OpenID provider {why}") from exc
    if response.status_code >= 500 or response.status_code == 429:
        raise IdentitySourceUnavailable(f"OpenID provider answered {response.status_code}")
    return response


def _body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    body = _body(response)
    if response.status_code != 200 or body is None:
        status = response.status_code
        raise IdentitySourceUnavailable(f"OpenID provider {what}: HTTP {status}, no JSON object")
    return body


def _oauth_error(response: httpx.Response) -> str:
    """The OAuth error of a refusal; its description is the provider's text, never a secret."""
    body = _body(response) or {}
    error = str(body.get("error", f"HTTP {response.status_code}"))
    return f"{error} {str(body.get('error_description', ''))[:200]}".strip()


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
