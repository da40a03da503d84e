"""Background work that runs exactly once across every process and replica."""
