"""The image's merged filesystem, reduced to the paths that hold findings.

Layers are applied bottom-up, as a container runtime's overlay would (OCI image spec,
"Representing changes", https://github.com/opencontainers/image-spec/blob/main/layer.md):

- a file in a layer replaces whatever lower layers had at its path, a directory included, so
  everything a lower layer had beneath that path goes too;
- `.wh.<name>` deletes `<name>` (and everything beneath it) from lower layers;
- `<dir>/.wh..wh..opq` hides everything lower layers had beneath `<dir>`;
- whiteouts only act on lower layers, never on entries of their own layer, whatever their order
  in the tar: entries of the layer being read are kept apart until the layer ends.
"""

from __future__ import annotations

from bisect import bisect_left

from dockyard.ext.scanning.inventory.findings import Finding


class Overlay:
    def __init__(self) -> None:
        self._lower: dict[str, Finding] = {}
        self._lower_sorted: list[str] = []  # for prefix deletes; may hold already-deleted paths
        self._layer: dict[str, Finding] = {}

    def begin_layer(self) -> None:
        self._lower_sorted = sorted(self._lower)
        self._layer = {}

    def end_layer(self) -> None:
        self._lower.update(self._layer)
        self._layer = {}

    def add(self, path: str, finding: Finding) -> None:
        self._layer[path] = finding

    def replace(self, path: str) -> None:
        """A non-directory entry at `path` in the current layer."""
        self._layer.pop(path, None)  # a tar may carry the same path twice: the last one counts
        self._lower.pop(path, None)
        self._drop_beneath(path)

    def replace_with_directory(self, path: str) -> None:
        """A directory merges with a lower directory, but replaces a lower file."""
        self._lower.pop(path, None)

    def whiteout(self, path: str) -> None:
        self._lower.pop(path, None)
        self._drop_beneath(path)

    def opaque(self, directory: str) -> None:
        self._drop_beneath(directory)

    def findings(self) -> dict[str, Finding]:
        """Everything that survived, the current layer's entries included."""
        return {**self._lower, **self._layer}

    def _drop_beneath(self, directory: str) -> None:
        prefix = f"{directory}/" if directory else ""
        at = bisect_left(self._lower_sorted, prefix)
        while at < len(self._lower_sorted) and self._lower_sorted[at].startswith(prefix):
            self._lower.pop(self._lower_sorted[at], None)
            at += 1
