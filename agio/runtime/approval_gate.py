"""The run's side of approvals (SPEC §11): which of its tool calls wait for a person's
decision, asking for them, and reading the decisions made. An approval past its expiry
is rejected here (reason `expired`) when the run meets it, and by the maintenance sweep
(`agio.runtime.approvals`) when nobody does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from agio.config.components import ToolComponent
from agio.domain.approvals import EXPIRED_REASON, EXPIRY_DECIDER, Approval, Decision
from agio.domain.messages import ToolCall
from agio.domain.time import utcnow
from agio.runtime.snapshot import AgentSnapshot
from agio.storage.approvals import ApprovalRepository


def needs_approval(snapshot: AgentSnapshot, tool: str, live: object = None) -> bool:
    """A call of `tool` waits for a decision: its component says so (the component of
    the `live` tool, for the tools of an `mcp` server), or the agent's `config.approval`
    names it (or "all")."""
    source = getattr(live, "component_name", tool)
    component: ToolComponent | None = next((t for t in snapshot.tools if t.name == source), None)
    if component is not None and component.requires_approval:
        return True
    approval = snapshot.agent.config.approval
    return approval is not None and approval.covers(tool)


class ApprovalGate:
    def __init__(self, repo: ApprovalRepository, timeout_seconds: float) -> None:
        self.repo = repo
        self.timeout = timedelta(seconds=timeout_seconds)

    async def ask(
        self, run_id: str, agent_id: str, user_id: str | None, calls: Sequence[ToolCall]
    ) -> dict[str, Approval]:
        """Every call's approval: asked for now, or as decided (or asked) before."""
        now = utcnow()
        approvals = await self.repo.request(
            run_id,
            agent_id,
            user_id,
            [(c.id, c.name, c.arguments) for c in calls],
            now=now,
            expires_at=now + self.timeout,
        )
        for call_id, approval in list(approvals.items()):
            if approval.decision is None and approval.expires_at <= now:
                decided = await self.repo.decide(
                    run_id,
                    call_id,
                    Decision.REJECT,
                    by=EXPIRY_DECIDER,
                    now=now,
                    reason=EXPIRED_REASON,
                )
                approvals[call_id] = decided or await self._reread(run_id, call_id, approval)
        return approvals

    async def _reread(self, run_id: str, call_id: str, approval: Approval) -> Approval:
        # decided by somebody else in between: theirs stands
        return await self.repo.get(run_id, call_id) or approval
