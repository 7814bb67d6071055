// One run: what was asked and answered, its figures, control, lineage, steps, its model
// calls (request, tools, response, usage, latency, error), the event
// timeline (live while it runs), checkpoints with restore and fork, and the configuration
// it started with.

import { useRoute } from "preact-iso";
import type { RunStatus } from "../../api/types";
import { ErrorNotice } from "../../components/ErrorNotice";
import { JsonView } from "../../components/JsonView";
import { RunControls } from "../../components/RunControls";
import { StatusBadge } from "../../components/StatusBadge";
import { count, dateTime, duration } from "../../format";
import { Checkpoints } from "./Checkpoints";
import { Lineage } from "./Lineage";
import { ModelCalls } from "./ModelCalls";
import { RunApprovals } from "./RunApprovals";
import { Steps } from "./Steps";
import { Timeline } from "./Timeline";
import { Tree } from "./Tree";
import { useRun } from "./useRun";

export default function RunPage() {
  const { params } = useRoute();
  const id = params["id"] ?? "";
  const { run, events, checkpoints, following, error, refresh } = useRun(id);

  if (!run) {
    return (
      <section class="screen">
        <h1 class="mono">{id}</h1>
        {error ? <ErrorNotice error={error} title="The run could not be read" /> : <p class="muted">Loading…</p>}
      </section>
    );
  }
  const m = run.metrics;
  return (
    <section class="screen run-page" aria-labelledby="run-title" data-run-id={run.id}>
      <p class="crumbs">
        <a href="/runs">Runs</a> / <span class="mono">{run.id}</span>
      </p>
      <header class="run-header">
        <h1 id="run-title">
          Run <span class="mono">{run.id}</span>
        </h1>
        <StatusBadge status={run.status as RunStatus} />
      </header>
      <ErrorNotice error={error} />
      <RunControls runId={run.id} status={run.status} onChanged={refresh} />
      <div class="run-grid">
        <dl class="facts">
          <dt>Agent</dt>
          <dd>{run.agent_name}</dd>
          <dt>Session</dt>
          <dd>
            <a href={`/chat?agent=${encodeURIComponent(run.agent_name)}&session=${encodeURIComponent(run.session_id)}`} class="mono">
              {run.session_id}
            </a>
          </dd>
          <dt>User</dt>
          <dd class="mono">{run.user_id ?? "–"}</dd>
          <dt>Created</dt>
          <dd>{dateTime(run.created_at)}</dd>
          <dt>Ended</dt>
          <dd>{dateTime(run.ended_at)}</dd>
        </dl>
        <dl class="facts figures">
          <dt>Tokens</dt>
          <dd>
            {count(m.total_tokens)} <span class="muted">({count(m.prompt_tokens)} prompt, {count(m.completion_tokens)} completion)</span>
          </dd>
          {m.children_tokens ? (
            <>
              <dt>Tree tokens</dt>
              <dd class="tree-tokens">
                {count(m.tree_tokens ?? m.total_tokens)} <span class="muted">({count(m.children_tokens)} by the runs it started)</span>
              </dd>
            </>
          ) : null}
          <dt>Steps</dt>
          <dd>{count(m.total_steps)}</dd>
          <dt>Tool calls</dt>
          <dd>
            {count(m.tool_calls)}
            {m.tool_errors ? <span class="error-text"> ({m.tool_errors} failed)</span> : null}
          </dd>
          <dt>Duration</dt>
          <dd>{duration(m.duration)}</dd>
          {run.recovery_count ? (
            <>
              <dt>Recovered</dt>
              <dd>{run.recovery_count}×</dd>
            </>
          ) : null}
        </dl>
      </div>
      <section aria-labelledby="qa-title" class="panel">
        <h2 id="qa-title">Question and answer</h2>
        <p class="question">{run.input_query}</p>
        {run.response_content ? <p class="answer-text run-response">{run.response_content}</p> : null}
        {run.error ? (
          <p class="notice notice-error">
            {run.error.type}: {run.error.message}
          </p>
        ) : null}
      </section>
      <RunApprovals runId={run.id} version={`${run.status}:${run.last_seq}`} onDecided={refresh} />
      {run.children?.length || events.some((e) => e.type === "workflow_step_started") ? (
        <section aria-labelledby="tree-title" class="panel">
          <h2 id="tree-title">Tree</h2>
          <Tree run={run} events={events} />
        </section>
      ) : null}
      <section aria-labelledby="lineage-title" class="panel">
        <h2 id="lineage-title">Lineage</h2>
        <Lineage run={run} />
      </section>
      <section aria-labelledby="steps-title" class="panel">
        <h2 id="steps-title">Steps</h2>
        <Steps steps={run.steps} superseded={run.superseded_steps} />
      </section>
      <section aria-labelledby="model-calls-title" class="panel">
        <h2 id="model-calls-title">Model calls</h2>
        <ModelCalls runId={run.id} version={`${run.status}:${run.last_seq}`} />
      </section>
      <section aria-labelledby="timeline-title" class="panel">
        <h2 id="timeline-title">Timeline</h2>
        <Timeline events={events} live={following} />
      </section>
      <section aria-labelledby="checkpoints-title" class="panel">
        <h2 id="checkpoints-title">Checkpoints</h2>
        <Checkpoints run={run} checkpoints={checkpoints} onChanged={refresh} />
      </section>
      <section aria-labelledby="config-title" class="panel">
        <h2 id="config-title">Configuration snapshot</h2>
        <details>
          <summary>The components the run started with (secrets masked)</summary>
          <JsonView value={run.agent_config} label="Configuration snapshot" />
        </details>
      </section>
    </section>
  );
}
