"""Language packages in real layers: the venv's own Python distributions, Debian's egg-info,
npm node_modules, Maven metadata inside jars (and jars inside jars)."""

from __future__ import annotations

import importlib.metadata
import io
import json
import sys
import zipfile
from pathlib import Path

import pytest

from dockyard.ext.scanning.inventory import inventory_image
from dockyard.ext.scanning.packages import Ecosystem, Inventory, Package
from tests.unit.ext.scanning.inventory.layers import ZSTD, File, gz, layer, tar, zst

pytestmark = pytest.mark.anyio

SITE = Path(sys.prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}")
SITE_PACKAGES = SITE / "site-packages"


def of(inventory: Inventory, ecosystem: Ecosystem) -> dict[str, Package]:
    return {p.name: p for p in inventory.packages if p.ecosystem == ecosystem}


def venv_metadata_files() -> list[File]:
    files = [
        File(
            f"opt/venv/lib/python3.11/site-packages/{path.parent.name}/METADATA", path.read_bytes()
        )
        for path in sorted(SITE_PACKAGES.glob("*.dist-info/METADATA"))
    ]
    if not files:
        pytest.skip("no dist-info directories in this interpreter's site-packages")
    return files


async def test_the_venvs_python_distributions() -> None:
    files = venv_metadata_files()
    inventory = await inventory_image([layer(zst(tar(files)), ZSTD)])

    found = of(inventory, Ecosystem.PYPI)
    assert len(inventory.packages) == len(files)
    for name in ("starlette", "anyio", "zstandard"):
        assert found[name].version == importlib.metadata.version(name)
    starlette = found["starlette"]
    assert starlette.purl == f"pkg:pypi/starlette@{importlib.metadata.version('starlette')}"
    assert starlette.licenses == ("BSD-3-Clause",)
    assert starlette.path.endswith(".dist-info/METADATA")
    # Purls carry the normalised name, the package keeps the name as published.
    settings = next(
        p for n, p in found.items() if n.lower().startswith("pydantic") and "settings" in n
    )
    assert settings.purl.startswith("pkg:pypi/pydantic-settings@")


async def test_egg_info_directories_and_files() -> None:
    pkg_info = b"Metadata-Version: 1.1\nName: PyJWT\nVersion: 2.6.0\nLicense: MIT\n\nlong text"
    blob = tar(
        [
            File("usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/PKG-INFO", pkg_info),
            File(
                "usr/lib/python3/dist-packages/six-1.16.0.egg-info", b"Name: six\nVersion: 1.16.0\n"
            ),
            File("usr/lib/python3/dist-packages/PyJWT-2.6.0.egg-info/top_level.txt", b"jwt\n"),
        ]
    )
    inventory = await inventory_image([layer(gz(blob))])
    found = of(inventory, Ecosystem.PYPI)
    assert set(found) == {"PyJWT", "six"}
    assert found["PyJWT"].purl == "pkg:pypi/pyjwt@2.6.0"
    assert found["PyJWT"].licenses == ("MIT",)


def json_(name: str, version: str, **extra: object) -> bytes:
    return json.dumps({"name": name, "version": version, **extra}).encode()


async def test_npm_installed_packages_only() -> None:
    app = "usr/src/app/node_modules"
    blob = tar(
        [
            File("usr/src/app/package.json", json_("my-app", "1.0.0")),
            File(f"{app}/express/package.json", json_("express", "4.18.2", license="MIT")),
            File(f"{app}/@babel/core/package.json", json_("@babel/core", "7.23.0")),
            File(
                f"{app}/express/node_modules/debug/package.json",
                json_("debug", "2.6.9", licenses=[{"type": "MIT"}]),
            ),
            # Not installed packages: a file inside a package, and a scope directory.
            File(f"{app}/express/lib/package.json", json_("inner", "0.0.1")),
            File(f"{app}/@babel/package.json", json_("@babel/scope", "1.0.0")),
            File(f"{app}/broken/package.json", b"{not json"),
        ]
    )
    inventory = await inventory_image([layer(gz(blob))])
    found = of(inventory, Ecosystem.NPM)
    assert set(found) == {"express", "@babel/core", "debug"}
    assert found["@babel/core"].purl == "pkg:npm/%40babel/core@7.23.0"
    assert found["express"].purl == "pkg:npm/express@4.18.2"
    assert found["express"].licenses == ("MIT",)
    assert found["debug"].licenses == ("MIT",)
    assert found["debug"].path == f"{app}/express/node_modules/debug/package.json"


def jar(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        archive.writestr("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n")
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def pom(group: str, artifact: str, version: str) -> dict[str, bytes]:
    """The pom.properties entry Maven writes into a jar it builds."""
    path = f"META-INF/maven/{group}/{artifact}/pom.properties"
    text = f"#Created by Apache Maven\nversion={version}\ngroupId={group}\nartifactId={artifact}\n"
    return {path: text.encode()}


async def test_maven_metadata_in_jars_and_nested_jars() -> None:
    log4j = jar(pom("org.apache.logging.log4j", "log4j-core", "2.14.1"))
    jackson = jar(pom("com.fasterxml.jackson.core", "jackson-databind", "2.15.2"))
    app = jar(
        {
            **pom("com.example", "app", "1.0.0"),
            "BOOT-INF/lib/log4j-core-2.14.1.jar": log4j,
            "BOOT-INF/lib/broken.jar": b"not a zip",
        },
        compression=zipfile.ZIP_STORED,
    )
    war = jar({"WEB-INF/lib/jackson-databind-2.15.2.jar": jackson})
    blob = tar([File("app/app.jar", app), File("srv/ROOT.war", war)])
    inventory = await inventory_image([layer(gz(blob))])

    found = of(inventory, Ecosystem.MAVEN)
    assert set(found) == {
        "com.example:app",
        "org.apache.logging.log4j:log4j-core",
        "com.fasterxml.jackson.core:jackson-databind",
    }
    log4j_core = found["org.apache.logging.log4j:log4j-core"]
    assert log4j_core.version == "2.14.1"
    assert log4j_core.purl == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert log4j_core.path == "app/app.jar!/BOOT-INF/lib/log4j-core-2.14.1.jar"
    assert found["com.example:app"].path == "app/app.jar"
    assert inventory.problems == ()
