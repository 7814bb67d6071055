// Following a run's events live with EventSource on GET /api/runs/{id}/events (same
// origin: the session cookie goes with it). The server sends the stored log first, then
// live events until the run ends; on a reconnect the browser sends Last-Event-ID and
// nothing is missed or repeated. Events at or before `after` are dropped here.

import { EVENT_TYPES, TERMINAL_EVENTS, eventOf } from "./events";
import type { RunEvent } from "./types";

export interface Follower {
  close(): void;
}

export function followRun(
  runId: string,
  after: number,
  onEvents: (events: RunEvent[]) => void,
  onEnd: () => void,
): Follower {
  const source = new EventSource(`/api/runs/${encodeURIComponent(runId)}/events`);
  let last = after;
  let pending: RunEvent[] = [];
  let frame = 0;
  let closed = false;
  const flush = (): void => {
    frame = 0;
    const batch = pending;
    pending = [];
    if (batch.length) onEvents(batch);
  };
  const close = (): void => {
    if (closed) return;
    closed = true;
    source.close();
    if (frame) cancelAnimationFrame(frame);
    flush();
    onEnd();
  };
  const receive = (message: MessageEvent<string>): void => {
    const event = eventOf(message.type, message.lastEventId, message.data);
    if (!event || event.seq <= last) return;
    last = event.seq;
    pending.push(event);
    // one render per frame however many events arrive in it
    if (!frame) frame = requestAnimationFrame(flush);
    if (TERMINAL_EVENTS[event.type]) close();
  };
  for (const type of EVENT_TYPES) source.addEventListener(type, receive);
  source.addEventListener("error", () => {
    // CLOSED: the server said there is nothing more (204) or refused; otherwise the
    // browser reconnects by itself with Last-Event-ID
    if (source.readyState === EventSource.CLOSED) close();
  });
  return { close };
}
