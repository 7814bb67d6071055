// Pause, resume and cancel for one run, offered by its status.

import { useState } from "preact/hooks";
import { control, type ControlAction } from "../api/runs";
import type { RunStatus } from "../api/types";
import { ErrorNotice } from "./ErrorNotice";
import { Icon } from "./Icon";

export function RunControls(props: {
  runId: string;
  status: RunStatus | "starting";
  onChanged?: (status: RunStatus) => void;
}) {
  const [busy, setBusy] = useState<ControlAction | null>(null);
  const [error, setError] = useState<unknown>(null);
  const act = async (action: ControlAction): Promise<void> => {
    setBusy(action);
    setError(null);
    try {
      const answer = await control(props.runId, action);
      props.onChanged?.(answer.status);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(null);
    }
  };
  const live = props.status === "running" || props.status === "pending";
  const paused = props.status === "paused";
  // waiting for a decision: it may be paused or cancelled there too (SPEC §11)
  const waiting = props.status === "waiting_approval";
  return (
    <div class="run-controls">
      <div class="button-row" role="group" aria-label="Run control">
        <button
          type="button"
          class="button"
          disabled={!(live || waiting) || busy !== null}
          onClick={() => act("pause")}
        >
          <Icon name="pause" /> Pause
        </button>
        <button type="button" class="button" disabled={!paused || busy !== null} onClick={() => act("resume")}>
          <Icon name="play" /> Resume
        </button>
        <button
          type="button"
          class="button danger"
          disabled={!(live || paused || waiting) || busy !== null}
          onClick={() => act("cancel")}
        >
          <Icon name="stop" /> Cancel
        </button>
      </div>
      <ErrorNotice error={error} title="The run did not change" />
    </div>
  );
}
