"""What the server lets built-in tools do: the operator's settings (`AGIO_*`), as opposed
to a tool component's own `options`, which the configuration's writers choose."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from agio.tools.ssrf import GuardPolicy, IPNetwork


@dataclass(frozen=True)
class ToolEnvironment:
    """Hashable (runs share built-in tools built for the same environment).

    - `enable_http_request`, `enable_web_fetch`: those tools answer calls at all;
    - `allowed_networks`: private or loopback networks they may reach all the same
      (cloud metadata addresses never);
    - `workspace_root`: the folder the workspace tools are confined to (None: they
      refuse every call).
    """

    enable_http_request: bool = False
    enable_web_fetch: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    workspace_root: Path | None = None

    @property
    def guard_policy(self) -> GuardPolicy:
        return GuardPolicy(allowed_networks=self.allowed_networks)
