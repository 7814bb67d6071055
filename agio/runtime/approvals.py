"""Approvals of tool calls (SPEC §11), the people's side: the inbox, deciding a call, and
continuing a run once nothing it waits for is undecided; and the sweep that rejects
expired approvals and continues runs whose decision was made but that did not continue
(the deciding process stopped in between).

A run is continued by whoever makes its last decision (any process: it claims the run,
like a resume) and, in case that races with the run handing itself back, by the run's
own process right after it stopped to wait (`Executions.on_waiting`): the claim is
conditional, so exactly one of them continues it."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import structlog

from agio.domain.approvals import EXPIRED_REASON, EXPIRY_DECIDER, Approval, Decision
from agio.domain.errors import ApprovalNotFound, Conflict, RunNotFound, ValidationFailed
from agio.domain.runs import RunStatus
from agio.domain.time import utcnow
from agio.runtime.launching import Executions
from agio.runtime.snapshot import AgentSnapshot, go_live
from agio.storage.approvals import ApprovalRepository
from agio.storage.runs import RunRepository

log = structlog.get_logger(__name__)


class Approvals:
    def __init__(
        self, repo: ApprovalRepository, runs: RunRepository, executions: Executions
    ) -> None:
        self.repo = repo
        self.runs = runs
        self.executions = executions

    async def pending(
        self, *, user_id: str | None, run_id: str | None = None, agent_id: str | None = None
    ) -> list[Approval]:
        return await self.repo.pending(user_id=user_id, run_id=run_id, agent_id=agent_id)

    async def of_run(self, run_id: str) -> list[Approval]:
        return await self.repo.of_run(run_id)

    async def decide(
        self,
        run_id: str,
        call_id: str,
        decision: Decision,
        *,
        by: str,
        visible_to: str | None,
        reason: str | None = None,
        arguments: dict[str, Any] | None = None,
    ) -> Approval:
        """Decide a call (at most once: a second decision is a 409), then continue its run
        if it waits for nothing else. `visible_to`: a user who may decide only for runs of
        their own (another's run is not found)."""
        run = await self.runs.get_run(run_id)
        if run is None or (visible_to is not None and run.user_id != visible_to):
            raise RunNotFound(run_id)
        approval = await self.repo.get(run_id, call_id)
        if approval is None:
            raise ApprovalNotFound(f"Run '{run_id}' has no approval for call '{call_id}'")
        if approval.decision is not None:
            raise self._decided(approval)
        if run.status.terminal:
            raise Conflict(f"Run '{run_id}' has ended ({run.status.value}): nothing to decide")
        if arguments is not None:
            if decision is not Decision.APPROVE:
                raise ValidationFailed(
                    "`arguments` go with an approval only",
                    details=[
                        {
                            "loc": ["body", "arguments"],
                            "msg": "only with approve",
                            "type": "value_error",
                        }
                    ],
                )
            await self._check_arguments(run.agent_config, approval.tool, arguments)
        decided = await self.repo.decide(
            run_id, call_id, decision, by=by, now=utcnow(), reason=reason, arguments=arguments
        )
        if decided is None:  # somebody decided first
            raise self._decided(await self.repo.get(run_id, call_id) or approval)
        log.info("approval_decided", run_id=run_id, call_id=call_id, decision=decision.value, by=by)
        await self.continue_if_decided(run_id)
        return decided

    @staticmethod
    def _decided(approval: Approval) -> Conflict:
        return Conflict(
            f"Call '{approval.call_id}' was already decided: {approval.status} by "
            f"{approval.decided_by}"
        )

    async def _check_arguments(
        self, agent_config: dict[str, Any], tool: str, arguments: dict[str, Any]
    ) -> None:
        """Edited arguments must fit the tool's JSON schema (the tool as the run has it)."""
        snapshot = AgentSnapshot.from_json(agent_config)
        live = await go_live(
            self.executions.components,
            snapshot,
            self.executions.models,
            tools=self.executions.options.tools,
            knowledge_tool=self.executions.knowledge_tool,
            tracer=self.executions.tracer,
        )
        found = live.tools.get(tool)
        if found is None:
            raise ValidationFailed(f"The run has no tool '{tool}' any more")
        try:
            validator = jsonschema_rs.validator_for(found.parameters)
        except (ValueError, jsonschema_rs.ValidationError) as exc:  # a schema it cannot read
            raise ValidationFailed(f"Tool '{tool}' has no usable argument schema: {exc}") from exc
        errors = [
            {
                "loc": ["body", "arguments", *error.instance_path],
                "msg": error.message,
                "type": "schema_error",
            }
            for error in validator.iter_errors(arguments)
        ]
        if errors:
            raise ValidationFailed(
                f"The arguments do not fit tool '{tool}': {errors[0]['msg']}", details=errors
            )

    async def continue_if_decided(self, run_id: str) -> bool:
        """Continue, in this process, a run that waits for approvals none of which is
        undecided; False when there is nothing to do (not waiting, still undecided, or
        continued by somebody else)."""
        executions = self.executions
        run = await self.runs.get_run(run_id)
        if run is None or run.status is not RunStatus.WAITING_APPROVAL or run.owner_id:
            return False
        if await self.repo.undecided(run_id):
            return False
        checkpoint = await self.runs.latest_checkpoint(run_id)
        if checkpoint is None:
            return False
        with executions.starting_here(run_id):
            if not await self.runs.claim(run, executions.owner_id, recovery=False):
                return False
            # a pause or cancel sent to it while it was being handed back (read with it,
            # cleared by the claim) is applied to the run continued
            executions.steer_early(run_id, run.control)
            await executions.continue_from(
                run, checkpoint, {"checkpoint_id": checkpoint.id, "reason": "approvals decided"}
            )
        return True

    async def sweep(self) -> int:
        """Reject expired approvals (`expired`, by `system`) and continue the runs that
        wait for nothing undecided. Returns how many runs were continued here."""
        now = utcnow()
        for approval in await self.repo.expired(now):
            if await self.repo.decide(
                approval.run_id,
                approval.call_id,
                Decision.REJECT,
                by=EXPIRY_DECIDER,
                now=now,
                reason=EXPIRED_REASON,
            ):
                log.info("approval_expired", run_id=approval.run_id, call_id=approval.call_id)
        continued = 0
        for run_id in await self.repo.decided_waiting_runs():
            if await self.continue_if_decided(run_id):
                continued += 1
        return continued
