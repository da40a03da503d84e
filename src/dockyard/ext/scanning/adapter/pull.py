"""Pulling the image a scan request names from the registry it names, over the OCI
Distribution API: the manifest by digest, then each layer streamed as the inventory reads it.

A layer is never held whole: `LayerSource.open` streams the blob's response body, hashing it on
the way, and a body read to its end that does not hash to the layer's digest fails the scan.
(A reader that stops early, at the end of the tar archive, leaves the rest unread and so
unverified: verifying would mean downloading what the scan does not need.) The manifest is
read whole (it is small; more than MAX_MANIFEST bytes is refused) and checked against the
requested digest before anything it names is fetched.

Credentials: the request's `authorization` is sent as it is. Harbor passes `Basic` robot
credentials meant to be exchanged for a token (the spec says so), so a 401 with a Bearer
challenge is answered the docker way: GET the challenge's realm with the Basic credentials and
the pull scope, then retry with the token (again once, should it expire during a long scan).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx

from dockyard.ext.scanning.inventory import LayerSource
from dockyard.ext.scanning.inventory.bridge import OpenStream
from dockyard.ext.scanning.scanner import ScanTarget
from dockyard.oci import mediatypes as mt
from dockyard.oci.digest import Digest, InvalidDigest, new_hasher
from dockyard.oci.manifest import InvalidManifest, parse_manifest

MAX_MANIFEST = 4 * 1024 * 1024  # distribution's own limit on manifest size
MAX_TOKEN_RESPONSE = 64 * 1024
CHUNK = 1024 * 1024
MANIFEST_ACCEPT = ", ".join(sorted(mt.MANIFESTS))
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


class PullError(Exception):
    """The image cannot be pulled (refused, missing, not an image, or not what was asked)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    realm: str
    service: str = ""


class RegistryPuller:
    """One scan's view of one registry: the scan's credentials and, once exchanged, its token."""

    def __init__(self, http: httpx.AsyncClient, registry_url: str, authorization: str | None):
        self._http = http
        self._base = registry_url.rstrip("/")
        self._authorization = authorization
        self._token: str | None = None

    async def target(self, repository: str, digest: str, tag: str = "") -> ScanTarget:
        """The image manifest `digest` of `repository`, its layers ready to stream."""
        url = f"{self._base}/v2/{repository}/manifests/{digest}"
        response = await self._send("GET", url, repository, {"Accept": MANIFEST_ACCEPT})
        try:
            body = await _read_capped(response, MAX_MANIFEST)
        finally:
            await response.aclose()
        _verify(body, digest, f"manifest {repository}@{digest}")
        try:
            manifest = parse_manifest(body, response.headers.get("content-type"))
        except InvalidManifest as err:
            raise PullError(f"{repository}@{digest}: {err}") from None
        if manifest.media_type not in mt.IMAGE_MANIFESTS:
            raise PullError(
                f"{repository}@{digest} is a {manifest.media_type}, not an image manifest; "
                "scan the manifest of one platform"
            )
        layers = [
            LayerSource(d.digest, d.media_type, self._opener(repository, d.digest))
            for d in manifest.blobs[1:]  # the first blob of an image manifest is its config
        ]
        return ScanTarget(repository, digest, manifest.media_type, layers)

    def _opener(self, repository: str, digest: str) -> OpenStream:
        url = f"{self._base}/v2/{repository}/blobs/{digest}"

        async def stream() -> AsyncIterator[bytes]:
            hasher = new_hasher(Digest.parse(digest).algorithm)
            # Blobs may redirect to object storage (S3 presigned URLs); httpx drops the
            # Authorization header when a redirect leaves the registry's origin.
            response = await self._send("GET", url, repository, {}, follow_redirects=True)
            try:
                async for chunk in response.aiter_bytes(CHUNK):
                    hasher.update(chunk)
                    yield chunk
            finally:
                await response.aclose()
            if hasher.hexdigest() != digest.partition(":")[2]:
                raise PullError(f"layer {digest} does not match its digest")

        return stream

    async def _send(
        self,
        method: str,
        url: str,
        repository: str,
        headers: dict[str, str],
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """A streamed response with a 2xx status; on 401 with a Bearer challenge, once more
        with a fresh token. The caller closes the response."""
        for attempt in range(2):
            request = self._http.build_request(method, url, headers=self._with_auth(headers))
            try:
                response = await self._http.send(
                    request, stream=True, follow_redirects=follow_redirects
                )
            except httpx.HTTPError as err:
                raise PullError(f"{url}: {err}") from None
            if response.is_success:
                return response
            await response.aclose()
            if response.status_code != 401:
                raise PullError(f"{url}: HTTP {response.status_code}")
            challenge = bearer_challenge(response.headers.get("www-authenticate", ""))
            if attempt or challenge is None or _is_bearer(self._authorization):
                break
            self._token = await self._fetch_token(challenge, repository)
        refused = "the token it issued" if self._token else "the credentials"
        raise PullError(f"{url}: the registry refused {refused} (401)")

    def _with_auth(self, headers: dict[str, str]) -> dict[str, str]:
        if self._token is not None:
            return {**headers, "Authorization": f"Bearer {self._token}"}
        if self._authorization:
            return {**headers, "Authorization": self._authorization}
        return headers

    async def _fetch_token(self, challenge: Challenge, repository: str) -> str:
        params = {"scope": f"repository:{repository}:pull"}
        if challenge.service:
            params["service"] = challenge.service
        headers = {"Authorization": self._authorization} if self._authorization else {}
        try:
            response = await self._http.get(challenge.realm, params=params, headers=headers)
        except httpx.HTTPError as err:
            raise PullError(f"token endpoint {challenge.realm}: {err}") from None
        if response.status_code != 200 or len(response.content) > MAX_TOKEN_RESPONSE:
            raise PullError(f"token endpoint {challenge.realm}: HTTP {response.status_code}")
        try:
            doc = response.json()
        except ValueError:
            doc = None
        token = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(token, str) or not token:
            raise PullError(f"token endpoint {challenge.realm} answered without a token")
        return token


def bearer_challenge(header: str) -> Challenge | None:
    """`Bearer realm="…",service="…",scope="…"` → its realm and service."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params = dict(_CHALLENGE_PARAM.findall(rest))
    realm = params.get("realm", "")
    if not realm.startswith(("http://", "https://")):
        return None
    return Challenge(realm, params.get("service", ""))


def _is_bearer(authorization: str | None) -> bool:
    return authorization is not None and authorization.split(" ", 1)[0].lower() == "bearer"


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise PullError(f"{response.request.url}: more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _verify(body: bytes, digest: str, what: str) -> None:
    try:
        expected = Digest.parse(digest)
    except InvalidDigest as err:
        raise PullError(f"{what}: {err}") from None
    hasher = new_hasher(expected.algorithm)
    hasher.update(body)
    if hasher.hexdigest() != expected.hex:
        raise PullError(f"{what}: the registry's bytes do not match the digest")
