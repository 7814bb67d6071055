import type { RunStatus } from "../api/types";

export function StatusBadge({ status }: { status: RunStatus | "starting" }) {
  return (
    <span class={`badge status-${status}`} data-status={status}>
      {status}
    </span>
  );
}
