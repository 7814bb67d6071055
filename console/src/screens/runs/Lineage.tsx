// Where the run came from (the run and checkpoint it was restored or forked from) and
// what came from it.

import { useEffect, useState } from "preact/hooks";
import { childrenOf } from "../../api/runs";
import type { RunDetail, RunSummary } from "../../api/types";
import { StatusBadge } from "../../components/StatusBadge";

export function Lineage({ run }: { run: RunDetail }) {
  const [children, setChildren] = useState<RunSummary[] | null>(null);
  useEffect(() => {
    setChildren(null);
    childrenOf(run).then(setChildren, () => setChildren([]));
  }, [run.id, run.status]);
  return (
    <dl class="facts lineage">
      <dt>Parent</dt>
      <dd>
        {run.parent_run_id ? (
          <>
            <a href={`/runs/${run.parent_run_id}`} class="mono" rel="up">
              {run.parent_run_id}
            </a>
            {run.forked_from_checkpoint_id ? (
              <span class="muted"> from checkpoint {run.forked_from_checkpoint_id}</span>
            ) : null}
          </>
        ) : (
          <span class="muted">none: started by a chat</span>
        )}
      </dd>
      <dt>Children</dt>
      <dd>
        {children === null ? (
          <span class="muted">…</span>
        ) : children.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="plain">
            {children.map((c) => (
              <li key={c.id}>
                <a href={`/runs/${c.id}`} class="mono">
                  {c.id}
                </a>{" "}
                <StatusBadge status={c.status} />
              </li>
            ))}
          </ul>
        )}
      </dd>
    </dl>
  );
}
