"""The vocabulary of dependencies that routers use (`Annotated[..., Depends(...)]`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from agio.api.container import Container
from agio.config.components import SLUG_PATTERN
from agio.domain.runs import Checkpoint, Run
from agio.domain.security import Principal
from agio.services.components import ComponentService

IDENTIFIER_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


# the dependencies are coroutines: FastAPI runs a plain function in a worker thread,
# a hop that cost 6 % of the server's CPU per chat (docs/benchmarks.md)
async def get_container(request: Request) -> Container:
    container: Container = request.app.state.agio
    return container


async def get_components(request: Request) -> ComponentService:
    container: Container = request.app.state.agio
    return container.components


ContainerDep = Annotated[Container, Depends(get_container)]
ComponentsDep = Annotated[ComponentService, Depends(get_components)]

Limit = Annotated[int, Query(ge=1, le=100, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
AgentKey = Annotated[
    str,
    Path(pattern=IDENTIFIER_PATTERN, description="The agent's id (`agt_…`) or its name."),
]
# the pattern component names are validated with: a name the path admits can exist
ComponentName = Annotated[str, Path(pattern=SLUG_PATTERN, description="The component's name.")]
RunIdPath = Annotated[str, Path(pattern=IDENTIFIER_PATTERN, description="The run's id.")]


async def owned_run(container: Container, principal: Principal, run_id: str) -> Run:
    """The run, if this principal may see it; someone else's is "not found" (a 404 like a
    missing one, so that ids cannot be probed)."""
    return await container.run_service.owned_run(principal, run_id)


async def owned_checkpoint(
    container: Container, principal: Principal, checkpoint_id: str
) -> Checkpoint:
    """The checkpoint, if this principal may see its run (else "not found")."""
    return await container.run_service.owned_checkpoint(principal, checkpoint_id)
