"""Supply-chain security: package inventory, vulnerability matching (OSV), SBOMs, signatures."""
