"""The built-in package inventory: which packages an image holds, read offline from its layers.

OS package databases (dpkg, apk, rpm), language package metadata (Python, npm, Maven) and
binaries (Go build info, Rust `cargo auditable`), with the layers' whiteouts applied so that only
what a container would see counts. Entry point: `inventory_image`.
"""

from dockyard.ext.scanning.inventory.image import LayerSource, inventory_image

__all__ = ["LayerSource", "inventory_image"]
