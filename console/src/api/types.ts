// The shapes of Agio's REST API that the console reads (agio/api/schemas/*.py).

export type Role = "viewer" | "user" | "admin";

export type RunStatus =
  | "pending"
  | "running"
  | "paused"
  | "waiting_approval"
  | "completed"
  | "failed"
  | "cancelled";

export const RUN_STATUSES: readonly RunStatus[] = [
  "pending",
  "running",
  "paused",
  "waiting_approval",
  "completed",
  "failed",
  "cancelled",
];

export const TERMINAL_STATUSES: ReadonlySet<RunStatus> = new Set([
  "completed",
  "failed",
  "cancelled",
]);

export interface Page<T> {
  total: number;
  items: T[];
  limit: number;
  offset: number;
  has_more: boolean;
}

export interface AgentSummary {
  id: string;
  name: string;
  description: string;
  model: string;
  tools: string[];
  tags: string[];
  enabled: boolean;
  created_at: string;
  updated_at: string;
}

export interface ConfigSummary {
  name: string;
  type: string;
  description?: string;
  enabled?: boolean;
  tags?: string[];
}

export interface ConfigList {
  total: number;
  configs: ConfigSummary[];
}

export interface RunMetrics {
  total_tokens: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_steps: number;
  tool_calls: number;
  tool_errors: number;
  duration: number;
  /** Tokens of the runs this run started (agents as tools, workflow steps). */
  children_tokens?: number;
  /** `total_tokens` plus `children_tokens`. */
  tree_tokens?: number;
}

export interface RunErrorInfo {
  type: string;
  message: string;
}

export interface RunSummary {
  id: string;
  parent_run_id: string | null;
  /** The parent's call this run answers (a child run: SPEC §20); null otherwise. */
  parent_call_id?: string | null;
  forked_from_checkpoint_id: string | null;
  agent_id: string;
  agent_name: string;
  session_id: string;
  user_id: string | null;
  status: RunStatus;
  input_query: string;
  response_content: string | null;
  error: RunErrorInfo | null;
  metrics: RunMetrics;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
}

export interface StoredToolResult {
  call_id: string;
  tool: string;
  args: unknown;
  result: unknown;
  error: string | null;
  duration: number;
}

export interface Step {
  step_num: number;
  type: "llm_call" | "tool_call";
  messages: Record<string, unknown>[];
  model_response: Record<string, unknown> | null;
  tool_calls: StoredToolResult[];
  metrics: Record<string, number>;
  started_at: string | null;
  ended_at: string | null;
}

/** A run this run started (agents as tools, workflow steps). */
export interface ChildRun {
  id: string;
  call_id: string;
  agent_id: string;
  agent_name: string;
  status: RunStatus;
  metrics: RunMetrics;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
}

export interface RunDetail extends RunSummary {
  children?: ChildRun[];
  steps: Step[];
  superseded_steps: Step[];
  agent_config: Record<string, unknown>;
  last_seq: number;
  recovery_count: number;
}

export interface RunEvent {
  seq: number;
  type: string;
  /** ISO time; from the JSON log, or when the console received a live event. */
  timestamp: string;
  data: Record<string, unknown>;
}

export interface RunEvents {
  run_id: string;
  total: number;
  events: RunEvent[];
}

export interface ControlResponse {
  run_id: string;
  status: RunStatus;
  message: string;
}

export interface CheckpointSummary {
  id: string;
  step_num: number;
  kind: string;
  description: string;
  tags: string[];
  created_at: string;
  message_count: number;
  total_tokens: number;
}

export interface CheckpointList {
  run_id: string;
  total: number;
  checkpoints: CheckpointSummary[];
}

export interface RestoreRequest {
  create_new_run: boolean;
  modifications: { modified_query?: string };
}

export interface RestoreResponse {
  new_run_id: string;
  message: string;
}

export interface ForkModifications {
  modified_query?: string;
  system_prompt?: string;
  model?: string;
  temperature?: number;
}

export interface ForkRequest {
  description: string;
  modifications: ForkModifications;
}

export interface ForkResponse {
  new_run_id: string;
  checkpoint_id: string;
  message: string;
}

export interface SessionSummary {
  id: string;
  agent_id: string;
  user_id: string | null;
  created_at: string;
  updated_at: string;
  run_count: number;
}

export interface SessionDetail {
  id: string;
  agent_id: string;
  user_id: string | null;
  created_at: string;
  updated_at: string;
  messages: { role: string; content?: string | null; [key: string]: unknown }[];
  summary: string | null;
  runs: { id: string; status: RunStatus }[];
}

export interface ChatRequest {
  agent_id: string;
  message: string;
  session_id?: string;
  stream: true;
}
