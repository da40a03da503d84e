"""The OCI core services: uploads, blobs, manifests, tags, referrers, catalog."""
