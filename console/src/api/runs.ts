import { get, post } from "./http";
import type {
  CheckpointList,
  ControlResponse,
  ForkRequest,
  ForkResponse,
  Page,
  RestoreRequest,
  RestoreResponse,
  RunDetail,
  RunEvent,
  RunEvents,
  RunStatus,
  RunSummary,
} from "./types";

export interface RunFilters {
  agent_id?: string;
  status?: RunStatus | "";
  user_id?: string;
  session_id?: string;
}

export const listRuns = (
  filters: RunFilters,
  offset: number,
  limit: number,
  signal?: AbortSignal,
): Promise<Page<RunSummary>> => get("/api/runs", { ...filters, offset, limit }, signal);

export const getRun = (id: string, signal?: AbortSignal): Promise<RunDetail> =>
  get(`/api/runs/${encodeURIComponent(id)}`, {}, signal);

/** The whole stored event log, page by page. */
export async function allEvents(id: string, signal?: AbortSignal): Promise<RunEvent[]> {
  const events: RunEvent[] = [];
  for (;;) {
    const page = await get<RunEvents>(
      `/api/runs/${encodeURIComponent(id)}/events`,
      { offset: events.length, limit: 1000 },
      signal,
    );
    events.push(...page.events);
    if (page.events.length === 0 || events.length >= page.total) return events;
  }
}

export type ControlAction = "pause" | "resume" | "cancel";

export const control = (id: string, action: ControlAction): Promise<ControlResponse> =>
  post(`/api/runs/${encodeURIComponent(id)}/${action}`);

export const listCheckpoints = (id: string, signal?: AbortSignal): Promise<CheckpointList> =>
  get(`/api/runs/${encodeURIComponent(id)}/checkpoints`, {}, signal);

export const restore = (checkpointId: string, body: RestoreRequest): Promise<RestoreResponse> =>
  post(`/api/checkpoints/${encodeURIComponent(checkpointId)}/restore`, body);

export const fork = (checkpointId: string, body: ForkRequest): Promise<ForkResponse> =>
  post(`/api/checkpoints/${encodeURIComponent(checkpointId)}/fork`, body);

/** Runs restored or forked from `run`. The API has no filter by parent: this reads the
 * newest runs of the same agent (up to `scan`) and keeps those whose parent it is. */
export async function childrenOf(run: RunSummary, scan = 500): Promise<RunSummary[]> {
  const children: RunSummary[] = [];
  for (let offset = 0; offset < scan; offset += 100) {
    const page = await listRuns({ agent_id: run.agent_id }, offset, 100);
    children.push(...page.items.filter((r) => r.parent_run_id === run.id));
    if (!page.has_more) break;
  }
  return children;
}

/** One model call of a run (`GET /api/runs/{id}/model_calls`). */
export interface ModelCall {
  number: number;
  step: number;
  model: string;
  messages: Record<string, unknown>[];
  tools: Record<string, unknown>[];
  response: Record<string, unknown> | null;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  latency_ms: number;
  first_token_ms: number | null;
  retries: number;
  error: { type: string; message: string } | null;
  started_at: string;
}

export const modelCalls = (
  id: string,
  offset: number,
  limit: number,
  signal?: AbortSignal,
): Promise<Page<ModelCall>> => get(`/api/runs/${encodeURIComponent(id)}/model_calls`, { offset, limit }, signal);
