import { useState } from "preact/hooks";
import type { CheckpointSummary, RunDetail } from "../../api/types";
import { Icon } from "../../components/Icon";
import { count, dateTime } from "../../format";
import { ForkDialog, RestoreDialog } from "./CheckpointDialogs";

type Open = { kind: "restore" | "fork"; checkpoint: CheckpointSummary } | null;

export function Checkpoints(props: { run: RunDetail; checkpoints: CheckpointSummary[]; onChanged: () => void }) {
  const [open, setOpen] = useState<Open>(null);
  const { run, checkpoints } = props;
  if (checkpoints.length === 0) return <p class="muted">No checkpoints.</p>;
  return (
    <>
      <div class="table-wrap">
        <table class="table checkpoints">
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Kind</th>
              <th scope="col">Checkpoint</th>
              <th scope="col" class="num">
                Messages
              </th>
              <th scope="col" class="num">
                Tokens
              </th>
              <th scope="col">Taken</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {checkpoints.map((c) => (
              <tr key={c.id} data-checkpoint-id={c.id}>
                <td>{c.step_num}</td>
                <td>{c.kind}</td>
                <td class="mono">
                  {c.id}
                  {c.description ? <span class="muted small"> · {c.description}</span> : null}
                </td>
                <td class="num">{count(c.message_count)}</td>
                <td class="num">{count(c.total_tokens)}</td>
                <td>{dateTime(c.created_at)}</td>
                <td>
                  <div class="button-row">
                    <button
                      type="button"
                      class="button small"
                      onClick={() => setOpen({ kind: "restore", checkpoint: c })}
                      aria-label={`Restore from checkpoint at step ${c.step_num} (${c.kind})`}
                    >
                      <Icon name="restore" /> Restore
                    </button>
                    <button
                      type="button"
                      class="button small"
                      onClick={() => setOpen({ kind: "fork", checkpoint: c })}
                      aria-label={`Fork from checkpoint at step ${c.step_num} (${c.kind})`}
                    >
                      <Icon name="fork" /> Fork
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {open?.kind === "restore" ? (
        <RestoreDialog run={run} checkpoint={open.checkpoint} onClose={() => setOpen(null)} onDone={props.onChanged} />
      ) : null}
      {open?.kind === "fork" ? (
        <ForkDialog run={run} checkpoint={open.checkpoint} onClose={() => setOpen(null)} onDone={props.onChanged} />
      ) : null}
    </>
  );
}
