"""cosign signatures: find them in a repository, verify them with trusted keys, sum them up.

Pure functions over plain data; fetching goes through callables the caller passes in, so the
same code serves the scan-on-push job, the management API and the tests.
"""

from dockyard.ext.scanning.signatures.discovery import (
    ArtifactKind,
    Attachment,
    Discovery,
    classify_referrer,
    cosign_tag_for,
    discover,
)
from dockyard.ext.scanning.signatures.keys import InvalidKey, TrustedKey, load_trusted_key
from dockyard.ext.scanning.signatures.layers import SignatureLayer, signature_layers
from dockyard.ext.scanning.signatures.status import (
    SignatureCheck,
    SignatureState,
    SignatureStatus,
    check_signatures,
    signature_status,
)
from dockyard.ext.scanning.signatures.verify import (
    Outcome,
    Verification,
    verify_cosign,
    verify_with_keys,
)

__all__ = [
    "ArtifactKind",
    "Attachment",
    "Discovery",
    "InvalidKey",
    "Outcome",
    "SignatureCheck",
    "SignatureLayer",
    "SignatureState",
    "SignatureStatus",
    "TrustedKey",
    "Verification",
    "check_signatures",
    "classify_referrer",
    "cosign_tag_for",
    "discover",
    "load_trusted_key",
    "signature_layers",
    "signature_status",
    "verify_cosign",
    "verify_with_keys",
]
