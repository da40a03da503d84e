"""Read the signatures out of a cosign signature manifest.

Each layer of the manifest is one signature: the layer blob is the payload bytes exactly as
signed, and the layer's `dev.cosignproject.cosign/signature` annotation is the base64 signature.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dockyard.ext.scanning.signatures.discovery import (
    COSIGN_CERTIFICATE_ANNOTATION,
    COSIGN_SIGNATURE_ANNOTATION,
    COSIGN_SIMPLESIGNING,
)
from dockyard.oci.digest import Digest
from dockyard.oci.manifest import Descriptor, InvalidManifest, parse_manifest

# cosign refuses signature manifests with more layers than this; so do we, before fetching any.
MAX_LAYERS = 1000
# A simple signing payload is a few hundred bytes; anything this large is not one, and a
# registry should not read a large blob into memory just to find that out.
MAX_PAYLOAD_BYTES = 1 << 20

# Fetches a blob of the repository by digest; None when the registry does not have it.
FetchBlob = Callable[[str], Awaitable[bytes | None]]


@dataclass(frozen=True, slots=True)
class SignatureLayer:
    index: int  # position in the manifest's layers, or -1 for a problem with the whole manifest
    layer_digest: str
    payload: bytes = b""
    signature: str = ""  # base64, as cosign writes it
    certificate: str | None = None  # PEM, when the signature was made keyless (Fulcio)
    problem: str | None = None  # why this signature could not be read; then payload is empty


async def signature_layers(
    manifest: bytes | Mapping[str, Any], fetch_blob: FetchBlob
) -> AsyncIterator[SignatureLayer]:
    """Yield each signature of a cosign signature manifest, or what keeps it from being read.

    Errors raised by `fetch_blob` (the registry being down) propagate: they say nothing about the
    signature. Malformed content never raises; it comes out as a layer with a `problem`.
    """
    layers = _layers(manifest)
    if isinstance(layers, str):
        yield SignatureLayer(-1, "", problem=layers)
        return
    for index, layer in enumerate(layers):
        if layer.media_type != COSIGN_SIMPLESIGNING:
            continue  # not a signature (cosign only writes simple signing layers here)
        yield await _read_layer(index, layer, fetch_blob)


def _layers(manifest: bytes | Mapping[str, Any]) -> list[Descriptor] | str:
    try:
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        parsed = parse_manifest(body, None)
    except InvalidManifest as exc:
        return f"the signature manifest is not valid: {exc}"
    except (TypeError, ValueError, RecursionError):
        return "the signature manifest is not a JSON object"
    if parsed.is_index:
        return "the signature manifest is an index, not an image manifest"
    layers = parsed.blobs[1:]  # the first blob is the config
    if len(layers) > MAX_LAYERS:
        return f"the signature manifest has {len(layers)} layers, more than {MAX_LAYERS}"
    return layers


async def _read_layer(index: int, layer: Descriptor, fetch_blob: FetchBlob) -> SignatureLayer:
    annotations = layer.annotations or {}
    signature = annotations.get(COSIGN_SIGNATURE_ANNOTATION, "")
    certificate = annotations.get(COSIGN_CERTIFICATE_ANNOTATION) or None
    found = {"signature": signature, "certificate": certificate}
    if not signature:
        problem = f"layer {index} has no {COSIGN_SIGNATURE_ANNOTATION} annotation"
        return SignatureLayer(index, layer.digest, problem=problem, **found)
    if layer.size > MAX_PAYLOAD_BYTES:
        problem = f"layer {index} is {layer.size} bytes, too large for a signed payload"
        return SignatureLayer(index, layer.digest, problem=problem, **found)
    payload = await fetch_blob(layer.digest)
    if payload is None:
        problem = f"the payload blob {layer.digest} of layer {index} is not in the registry"
        return SignatureLayer(index, layer.digest, problem=problem, **found)
    if not _matches(payload, layer.digest):
        problem = f"the payload of layer {index} does not match its digest {layer.digest}"
        return SignatureLayer(index, layer.digest, problem=problem, **found)
    return SignatureLayer(index, layer.digest, payload, **found)


def _matches(payload: bytes, digest: str) -> bool:
    parsed = Digest.parse(digest)  # already checked by the manifest parser
    return hashlib.new(parsed.algorithm, payload).hexdigest() == parsed.hex
