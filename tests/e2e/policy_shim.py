"""Load the pull policies in a test registry even where no built-in extension installs them.

The scanning extension installs them (`install_policies`). This small third-party extension,
loaded after the built-ins through the same entry-point door, installs them only when nothing
did before it (in process by patching the entry points, in a `dockyard serve` process through
a `.dist-info` directory on its PYTHONPATH), so the tests hold with either wiring.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib.metadata import EntryPoint
from pathlib import Path

from starlette.routing import BaseRoute

from dockyard.api.openapi_paths import ApiAddition
from dockyard.ext.base import GROUP, ExtensionContext, ExtensionSettings, Subscription, Task
from dockyard.ext.scanning.policies import PullGuard, install_policies

NAME = "policies-shim"
ENTRY_POINT = EntryPoint(NAME, f"{__name__}:PolicyShimExtension", GROUP)
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


class PolicyShimExtension:
    name = NAME
    settings_model = ExtensionSettings

    def __init__(self, context: ExtensionContext, settings: ExtensionSettings) -> None:
        checks = context.registry.admissions.pull_checks
        installed = any(isinstance(check, PullGuard) for check in checks)
        self.feature = None if installed else install_policies(context)

    def routes(self) -> Sequence[BaseRoute]:
        return self.feature.routes() if self.feature is not None else ()

    def openapi(self) -> ApiAddition:
        return self.feature.openapi() if self.feature is not None else ApiAddition()

    def tasks(self) -> Sequence[Task]:
        return ()

    def subscriptions(self) -> Sequence[Subscription]:
        return ()

    async def startup(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def server_env(site: Path) -> dict[str, str]:
    """Environment for `dockyard serve` that loads the shim."""
    info = site / "dockyard_policy_shim-0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    metadata = "Metadata-Version: 2.1\nName: dockyard-policy-shim\nVersion: 0\n"
    (info / "METADATA").write_text(metadata)
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n{NAME} = {ENTRY_POINT.value}\n")
    path = [str(site), str(REPOSITORY_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path)}
