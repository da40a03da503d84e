"""Pull policies against a real `dockyard serve`, with real skopeo: an unsigned image is refused
and skopeo prints the policy's reason, a signed one (signed here the way `cosign sign --key`
does) copies; a vulnerable image is refused with its advisory named until allow-listed; the real
cosign fixtures verify with cosign.pub and are refused with cosign2.pub."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from dockyard.meta.sql import SqlMetadataStore
from dockyard.testing.metadata_policies_suite import seed_advisory, seed_report
from tests.conftest import ADMIN, service_missing
from tests.e2e import policy_shim
from tests.e2e.conftest import DockyardServer, MakeRegistry, Servers, Skopeo
from tests.e2e.cosign import (
    FIXTURES,
    SigningKey,
    push_signatures,
    read_fixture_signature,
    sign_digest,
)
from tests.e2e.images import Layout, push_image, push_manifest, sha256, simple_image

V1 = "/api/v1"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def server_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The policies installed; no scanner at work (the test writes the reports it needs)."""
    return {
        **policy_shim.server_env(tmp_path / "shim-site"),
        "DOCKYARD_EXTENSIONS__SCANNING__ENABLED": "false",
        **extra,
    }


def management(server: DockyardServer) -> httpx.Client:
    api = httpx.Client(base_url=server.url, auth=ADMIN, timeout=30)
    assert api.post(f"{V1}/projects", json={"name": "team"}).status_code == 201
    return api


def set_policy(api: httpx.Client, **policy: Any) -> None:
    response = api.put(f"{V1}/projects/team/policy", json=policy)
    assert response.status_code == 200, response.text


def printed(stderr: str) -> str:
    """What skopeo printed, with the quotes its logger escapes in a message unescaped."""
    return stderr.replace('\\"', '"')


def copy_out(skopeo: Skopeo, server: DockyardServer, reference: str, target: Path) -> Any:
    return skopeo(
        "copy",
        "--src-tls-verify=false",
        f"docker://{server.address}/{reference}",
        f"oci:{target}:out",
        check=False,
    )


def test_skopeo_copies_signed_images_and_is_refused_unsigned_ones(
    make_registry: MakeRegistry, skopeo: Skopeo, tmp_path: Path
) -> None:
    registry = make_registry(env=server_env(tmp_path))
    skopeo.login(registry)
    api = management(registry)
    signed, unsigned = simple_image("signed"), simple_image("unsigned")
    push_image(api, "team/app", signed, "signed")
    push_image(api, "team/app", unsigned, "unsigned")
    key = SigningKey.generate()
    reference = f"{registry.address}/team/app"
    push_signatures(api, "team/app", signed.digest, [sign_digest(key, signed.digest, reference)])
    set_policy(api, require_signature=True, trusted_keys=[key.public_pem])

    refused = copy_out(skopeo, registry, "team/app:unsigned", tmp_path / "unsigned")
    assert refused.returncode != 0
    message = (
        'pull refused by project team\'s policy "only signed images": '
        f"{unsigned.digest} has no signature by a trusted key (no cosign signature present)"
    )
    assert message in printed(refused.stderr), refused.stderr

    copied = copy_out(skopeo, registry, "team/app:signed", tmp_path / "signed")
    assert copied.returncode == 0, copied.stderr
    assert Layout(tmp_path / "signed").resolve("out")["digest"] == signed.digest

    # Signed now: the next pull is served (the signature's push refreshed this replica's view).
    push_signatures(api, "team/app", unsigned.digest, [sign_digest(key, unsigned.digest)])
    again = copy_out(skopeo, registry, "team/app:unsigned", tmp_path / "unsigned-again")
    assert again.returncode == 0, again.stderr


def test_a_vulnerable_image_is_refused_with_its_advisory_until_allow_listed(
    servers: Servers, skopeo: Skopeo, tmp_path: Path
) -> None:
    # Embedded: the test writes the scan report into the server's own SQLite file.
    registry = servers.start("registry", env=server_env(tmp_path))
    skopeo.login(registry)
    api = management(registry)
    image = simple_image("vulnerable")
    push_image(api, "team/app", image, "v1")
    store = SqlMetadataStore(f"sqlite+aiosqlite:///{registry.data_dir / 'dockyard.db'}")

    async def seed() -> None:
        await store.open()
        try:
            async with store.transaction() as tx:
                await seed_advisory(tx, "GHSA-h75v-3vvj-5mfj", ["CVE-2024-22195"])
                await seed_report(tx, image.digest, [("GHSA-h75v-3vvj-5mfj", 5, "jinja2", "2.10")])
        finally:
            await store.close()

    asyncio.run(seed())
    set_policy(api, max_severity="HIGH")
    refused = copy_out(skopeo, registry, "team/app:v1", tmp_path / "refused")
    assert refused.returncode != 0
    assert (
        '"no vulnerabilities at or above HIGH": 1 finding: '
        "GHSA-h75v-3vvj-5mfj (CRITICAL, jinja2 2.10)"
    ) in printed(refused.stderr), refused.stderr

    entry = {"advisory_id": "CVE-2024-22195", "reason": "templates are not user input"}
    assert api.post(f"{V1}/projects/team/allowlist", json=entry).status_code == 201
    copied = copy_out(skopeo, registry, "team/app:v1", tmp_path / "allowed")
    assert copied.returncode == 0, copied.stderr


def test_the_real_cosign_fixtures_with_the_right_and_the_wrong_key(
    make_registry: MakeRegistry, skopeo: Skopeo, tmp_path: Path
) -> None:
    if not FIXTURES.is_dir():
        service_missing(f"the cosign fixtures at {FIXTURES}")
    # The fixture's layers are not part of it: the registry takes the manifest without them.
    env = server_env(tmp_path, DOCKYARD_REGISTRY__REQUIRE_MANIFEST_REFERENCES="false")
    registry = make_registry(env=env)
    skopeo.login(registry)
    api = management(registry)
    manifest = (FIXTURES / "dir-img-cosign-valid" / "manifest.json").read_bytes()
    digest = sha256(manifest)
    push_manifest(api, "team/fixture", "v1", manifest, DOCKER_MANIFEST).raise_for_status()
    signature = read_fixture_signature(FIXTURES / "dir-img-cosign-valid" / "signature-1")
    push_signatures(api, "team/fixture", digest, [signature])
    target = f"docker://{registry.address}/team/fixture:v1"

    set_policy(api, require_signature=True, trusted_keys=[(FIXTURES / "cosign.pub").read_text()])
    inspected = skopeo("inspect", "--raw", "--tls-verify=false", target)
    assert inspected.stdout.encode() == manifest
    status = api.get(f"{V1}/repositories/team/fixture/artifacts/v1/signatures").json()
    assert status["state"] == "signed" and status["digest"] == digest
    assert [s["verified"] for s in status["signatures"]] == [True]
    check = api.get(f"{V1}/repositories/team/fixture/artifacts/v1/policy-check").json()
    assert check["allowed"] and check["rules"][0]["passed"]

    set_policy(api, require_signature=True, trusted_keys=[(FIXTURES / "cosign2.pub").read_text()])
    refused = skopeo("inspect", "--raw", "--tls-verify=false", target, check=False)
    assert refused.returncode != 0
    assert (
        f"{digest} has no signature by a trusted key (1 signature present, by an unknown key)"
        in printed(refused.stderr)
    ), refused.stderr
    check = api.get(f"{V1}/repositories/team/fixture/artifacts/v1/policy-check").json()
    assert not check["allowed"] and check["message"] in printed(refused.stderr)
