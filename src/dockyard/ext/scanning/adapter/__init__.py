"""Harbor's pluggable scanner adapter API, both ways.

- `AdapterServer` (server.py) serves any `Scanner` (Dockyard's built-in one) through the API, so
  Harbor or another Dockyard can register Dockyard as a scanner.
- `AdapterScanner` (client.py) is a `Scanner` backed by a remote adapter (Trivy, Clair, …),
  passing the same scanner suite; not yet selectable in the settings.

The wire format is in wire.py and report.py; docs/scanner-adapter.md has the operator's view.
"""

from dockyard.ext.scanning.adapter.client import AdapterError, AdapterScanner
from dockyard.ext.scanning.adapter.server import AdapterServer, require_admin

__all__ = ["AdapterError", "AdapterScanner", "AdapterServer", "require_admin"]
