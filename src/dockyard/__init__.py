"""Dockyard: an OCI Distribution Spec v1.1 container registry."""

__version__ = "0.1.0"
