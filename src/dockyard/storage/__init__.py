"""Blob bytes: the StorageDriver port and its adapters."""
