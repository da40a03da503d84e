"""Registry metadata: the MetadataStore port and its SQL adapter."""
