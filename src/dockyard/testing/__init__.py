"""Conformance suites every backend must pass, shipped so third-party backends can run them."""
