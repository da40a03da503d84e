"""Optional subsystems hung off the core through the Extension port (dockyard.ext.base).
The core (registry, auth, storage, meta, events, oci) never imports anything here."""
