"""Typed events, the in-process bus and the transactional outbox."""
