// Everything the run page shows, kept current: the run with its steps, its checkpoints and
// its event log. The stored log is read as JSON; a run that has not ended is then followed
// with EventSource, and its detail is read again when a step, checkpoint or state change
// arrives.

import { useEffect, useRef, useState } from "preact/hooks";
import { TERMINAL_EVENTS } from "../../api/events";
import { followRun } from "../../api/follow";
import { allEvents, getRun, listCheckpoints } from "../../api/runs";
import { TERMINAL_STATUSES, type CheckpointSummary, type RunDetail, type RunEvent } from "../../api/types";

const REFRESH_ON = new Set([
  "approval_requested",
  "approval_resolved",
  "step_completed",
  "checkpoint_created",
  "run_paused",
  "run_resumed",
  ...Object.keys(TERMINAL_EVENTS),
]);

export interface RunData {
  run: RunDetail | null;
  events: RunEvent[];
  checkpoints: CheckpointSummary[];
  following: boolean;
  error: unknown;
  refresh: () => void;
}

export function useRun(id: string): RunData {
  const [run, setRun] = useState<RunDetail | null>(null);
  const [events, setEvents] = useState<RunEvent[]>([]);
  const [checkpoints, setCheckpoints] = useState<CheckpointSummary[]>([]);
  const [following, setFollowing] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const timer = useRef(0);
  const alive = useRef(true);

  const readDetail = async (): Promise<RunDetail | null> => {
    try {
      const [detail, list] = await Promise.all([getRun(id), listCheckpoints(id)]);
      if (!alive.current) return null;
      setRun(detail);
      setCheckpoints(list.checkpoints);
      return detail;
    } catch (e) {
      if (alive.current) setError(e);
      return null;
    }
  };
  const refresh = (): void => {
    clearTimeout(timer.current);
    timer.current = window.setTimeout(() => void readDetail(), 150);
  };

  useEffect(() => {
    alive.current = true;
    setRun(null);
    setEvents([]);
    setCheckpoints([]);
    setError(null);
    let follower: { close(): void } | null = null;
    const controller = new AbortController();
    const start = async (): Promise<void> => {
      const detail = await readDetail();
      if (!detail) return;
      const stored = await allEvents(id, controller.signal);
      if (!alive.current) return;
      setEvents(stored);
      const last = stored.length ? (stored[stored.length - 1] as RunEvent).seq : 0;
      if (TERMINAL_STATUSES.has(detail.status)) return;
      setFollowing(true);
      follower = followRun(
        id,
        last,
        (batch) => {
          setEvents((all) => [...all, ...batch]);
          if (batch.some((e) => REFRESH_ON.has(e.type))) refresh();
        },
        () => {
          if (!alive.current) return;
          setFollowing(false);
          refresh();
        },
      );
    };
    start().catch((e: unknown) => alive.current && setError(e));
    return () => {
      alive.current = false;
      controller.abort();
      clearTimeout(timer.current);
      follower?.close();
    };
  }, [id]);

  return { run, events, checkpoints, following, error, refresh };
}
