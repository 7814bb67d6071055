"""The MCP servers of every `mcp` tool component in use: one `McpLink` per configuration,
shared by all the runs that use it (SPEC §19; the lifetime is in docs/mcp.md).

A component's configuration (with its secrets) picks its link: a changed component (a new
`url`, header, `command`, `include` …) gets a new link, listed anew, and the link of its
previous configuration is retired: closed now if no call is in flight, else when its last
call ends. A run that still holds a retired link's tools (it started before the change)
reconnects it for its call, which is closed again afterwards.
"""

from __future__ import annotations

import hashlib
import json

from agio.config.components import ToolComponent, dump_component
from agio.tools.mcp_link import McpLink, McpTool

__all__ = ["McpLinks", "McpTool"]


def _key(component: ToolComponent) -> str:
    config = dump_component(component, reveal_secrets=True)
    for field in ("description", "enabled", "tags", "requires_approval"):
        config.pop(field, None)  # they change no connection and no listing
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


class McpLinks:
    """Links by configuration; the current one of each component name."""

    def __init__(self, *, connect_timeout: float = 10.0) -> None:
        self.connect_timeout = connect_timeout
        self._links: dict[str, McpLink] = {}  # by configuration key
        self._current: dict[str, str] = {}  # component name -> key
        self._retired: set[McpLink] = set()  # closed at the end, whatever is left of them

    def link(self, component: ToolComponent) -> McpLink:
        key = _key(component)
        link = self._links.get(key)
        if link is None:
            link = McpLink(component, connect_timeout=self.connect_timeout)
            self._links[key] = link
        previous = self._current.get(component.name)
        if previous is not None and previous != key:
            self._retire(previous)
        self._current[component.name] = key
        return link

    def _retire(self, key: str) -> None:
        link = self._links.pop(key, None)
        if link is None:
            return
        link.retired = True
        self._retired.add(link)
        if link.in_flight == 0:
            link.disconnect()

    async def tools(self, component: ToolComponent) -> dict[str, McpTool]:
        """The tools of `component`'s server, by the names the model sees."""
        return await self.link(component).tools()

    async def close(self) -> None:
        links = [*self._links.values(), *self._retired]
        self._links.clear()
        self._retired.clear()
        self._current.clear()
        for link in links:
            await link.close()
