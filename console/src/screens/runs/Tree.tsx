// A composite run (SPEC §20) as a tree and a waterfall: the run, its workflow steps (from
// its events) and the runs it started, theirs too, each a bar on one time axis, each
// linking to its own page.

import { useEffect, useState } from "preact/hooks";
import { getRun } from "../../api/runs";
import type { RunDetail, RunEvent, RunStatus } from "../../api/types";
import { StatusBadge } from "../../components/StatusBadge";
import { duration } from "../../format";

const MAX_DEPTH = 4;
const MAX_NODES = 60;

interface Row {
  key: string;
  depth: number;
  label: string;
  kind: "run" | "step";
  runId?: string;
  status?: RunStatus;
  start: number;
  end: number | null;
}

const time = (iso: string | null | undefined): number | null => (iso ? Date.parse(iso) : null);

/** The workflow step (its number) a child's call belongs to: calls are `wf<n>_<name>…`. */
const stepOf = (callId: string): number | null => {
  const match = /^wf(\d+)_/.exec(callId);
  return match ? Number(match[1]) : null;
};

function stepRows(events: RunEvent[], depth: number, runId: string): Map<number, Row> {
  const steps = new Map<number, Row>();
  for (const e of events) {
    const n = Number(e.data["step"]);
    if (e.type === "workflow_step_started") {
      steps.set(n, {
        key: `${runId}:step:${n}`,
        depth,
        label: `step ${n} · ${String(e.data["name"])} (${String(e.data["kind"])})`,
        kind: "step",
        start: Date.parse(e.timestamp),
        end: null,
      });
    } else if (e.type === "workflow_step_completed") {
      const row = steps.get(n);
      if (row) row.end = Date.parse(e.timestamp);
    }
  }
  return steps;
}

async function collect(root: RunDetail, events: RunEvent[], signal: AbortSignal): Promise<Row[]> {
  const rows: Row[] = [];
  let budget = MAX_NODES;
  const visit = async (run: RunDetail, depth: number, own: RunEvent[] | null) => {
    rows.push({
      key: run.id,
      depth,
      label: run.agent_name,
      kind: "run",
      runId: run.id,
      status: run.status,
      start: time(run.started_at) ?? Date.parse(run.created_at),
      end: time(run.ended_at),
    });
    const steps = own ? stepRows(own, depth + 1, run.id) : new Map<number, Row>();
    const children = run.children ?? [];
    const byStep = new Map<number | null, typeof children>();
    for (const child of children) {
      const n = steps.size ? stepOf(child.call_id) : null;
      byStep.set(n, [...(byStep.get(n) ?? []), child]);
    }
    const descend = async (list: typeof children, d: number) => {
      for (const child of list) {
        if (budget-- <= 0 || d > MAX_DEPTH) return;
        const detail = await getRun(child.id, signal);
        await visit(detail, d, null);
      }
    };
    for (const [n, step] of [...steps.entries()].sort((a, b) => a[0] - b[0])) {
      rows.push(step);
      await descend(byStep.get(n) ?? [], depth + 2);
    }
    await descend(byStep.get(null) ?? [], depth + 1);
  };
  await visit(root, 0, events);
  return rows;
}

export function Tree({ run, events }: { run: RunDetail; events: RunEvent[] }) {
  const [rows, setRows] = useState<Row[] | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    collect(run, events, controller.signal).then(setRows, () => undefined);
    return () => controller.abort();
  }, [run.id, run.status, run.last_seq, events.length]);
  if (!rows) return <p class="muted">Loading…</p>;
  const now = Date.now();
  const t0 = Math.min(...rows.map((r) => r.start));
  const t1 = Math.max(t0 + 1, ...rows.map((r) => r.end ?? now));
  const span = t1 - t0;
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  return (
    <div class="waterfall" role="table" aria-label="Run tree">
      <div class="wf-row wf-axis" role="row">
        <span class="wf-label" role="columnheader">
          Run or step
        </span>
        <span class="wf-track" role="columnheader" aria-label="Time">
          {ticks.map((t) => (
            <span key={t} class="wf-tick" style={{ left: `${t * 100}%` }}>
              {duration((span * t) / 1000)}
            </span>
          ))}
        </span>
      </div>
      {rows.map((r) => {
        const end = r.end ?? now;
        const left = ((r.start - t0) / span) * 100;
        const width = Math.max(0.5, ((end - r.start) / span) * 100);
        return (
          <div class={`wf-row wf-${r.kind}`} role="row" key={r.key} data-run-id={r.runId} data-depth={r.depth}>
            <span class="wf-label" role="cell" style={{ paddingLeft: `${r.depth * 1.25}rem` }}>
              {r.runId ? (
                <>
                  <a href={`/runs/${r.runId}`} class="mono" title={r.runId}>
                    {r.label}
                  </a>{" "}
                  {r.status ? <StatusBadge status={r.status} /> : null}
                </>
              ) : (
                <span class="muted">{r.label}</span>
              )}
            </span>
            <span class="wf-track" role="cell">
              <span
                class={`wf-bar${r.end === null ? " wf-open" : ""}`}
                style={{ left: `${left}%`, width: `${width}%` }}
                title={`${r.label}: ${duration((end - r.start) / 1000)}`}
              >
                <span class="wf-duration">{duration((end - r.start) / 1000)}</span>
              </span>
            </span>
          </div>
        );
      })}
    </div>
  );
}
