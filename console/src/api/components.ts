// Components (models, agents, tools, memory, knowledge) through /api/config, and agents
// through /api/agents: list, read, create or replace, validate, delete, history, diff and
// rollback.

import { get, request } from "./http";
import type { AgentSummary, Page } from "./types";

export const COMPONENT_TYPES = ["agent", "model", "tool", "memory", "knowledge", "workflow"] as const;
export type ComponentType = (typeof COMPONENT_TYPES)[number];

/** A component as `GET /api/config/{name}` returns it: its fields plus the metadata. */
export type ComponentDetail = Record<string, unknown> & {
  type: ComponentType;
  name: string;
  id: string;
  revision: number;
  source: string;
  created_at: string;
  updated_at: string;
};

/** The metadata fields of a ComponentDetail: not part of what is sent back. */
export const META_FIELDS = ["id", "revision", "source", "created_at", "updated_at"] as const;

export interface ComponentSummary {
  id: string;
  name: string;
  type: ComponentType;
  description: string;
  enabled: boolean;
  tags: string[];
  revision: number;
  source: string;
  updated_at: string;
}

export interface ComponentList {
  total: number;
  configs: ComponentSummary[];
  limit: number;
  offset: number;
  has_more: boolean;
}

export interface PutResult {
  success: boolean;
  message: string;
  created: boolean;
  validate_only: boolean;
  revision: number | null;
}

export interface HistoryEntry {
  change_type: "created" | "updated" | "deleted" | "rolled_back";
  timestamp: string;
  old_config: Record<string, unknown> | null;
  new_config: Record<string, unknown> | null;
  actor: string;
  revision: number;
  /** On a `rolled_back` entry: the revision whose configuration it made current again. */
  rolled_back_from: number | null;
}

/** One field that differs between two revisions (`GET /api/config/{name}/diff`). */
export interface ConfigChange {
  path: string[];
  from: unknown;
  to: unknown;
}

export interface ConfigDiff {
  component_name: string;
  from_revision: number;
  to_revision: number;
  changes: ConfigChange[];
}

export interface RollbackResult {
  success: boolean;
  message: string;
  revision: number;
  rolled_back_from: number;
}

export interface ComponentHistory {
  component_name: string;
  history: HistoryEntry[];
}

export interface AgentRunConfig {
  max_steps?: number | null;
  temperature?: number | null;
  max_tokens?: number | null;
  tool_timeout?: number | null;
  max_parallel_tool_calls?: number | null;
}

/** The body of `POST`/`PUT /api/agents` (AgentCreate). */
export interface AgentSpec {
  name: string;
  description: string;
  model: string;
  tools: string[];
  /** Agents it may ask, each as a tool `ask_<name>` (SPEC §20). */
  agents?: string[];
  memory: string | null;
  knowledge: string | null;
  system_prompt: string;
  config: AgentRunConfig;
  tags: string[];
  enabled: boolean;
}

/** `GET /api/agents/{id}`. */
export interface AgentDetail extends AgentSpec {
  id: string;
  revision: number;
  created_at: string;
  updated_at: string;
}

const configPath = (name: string): string => `/api/config/${encodeURIComponent(name)}`;
const agentPath = (name: string): string => `/api/agents/${encodeURIComponent(name)}`;

export const listComponents = (type: ComponentType, signal?: AbortSignal): Promise<ComponentList> =>
  get("/api/config", { type, limit: 1000 }, signal);

export const listAllAgents = (signal?: AbortSignal): Promise<Page<AgentSummary>> =>
  get("/api/agents", { limit: 100 }, signal);

export const getComponent = (name: string, signal?: AbortSignal): Promise<ComponentDetail> =>
  get(configPath(name), {}, signal);

/** Create or replace the component `name` (`config` has its `type` and fields). */
export const putComponent = (
  name: string,
  config: Record<string, unknown>,
  validateOnly = false,
): Promise<PutResult> =>
  request("PUT", configPath(name), { body: { config, validate_only: validateOnly } });

export const deleteComponent = (name: string): Promise<void> => request("DELETE", configPath(name));

export const componentHistory = (name: string, signal?: AbortSignal): Promise<ComponentHistory> =>
  get(`${configPath(name)}/history`, {}, signal);

export const configDiff = (name: string, from: number, to: number, signal?: AbortSignal): Promise<ConfigDiff> =>
  get(`${configPath(name)}/diff`, { from, to }, signal);

/** Make revision `revision` current again (a new, `rolled_back` revision). */
export const rollbackComponent = (name: string, revision: number): Promise<RollbackResult> =>
  request("POST", `${configPath(name)}/rollback`, { body: { revision } });

export const getAgent = (name: string, signal?: AbortSignal): Promise<AgentDetail> =>
  get(agentPath(name), {}, signal);

export const createAgent = (spec: AgentSpec): Promise<AgentDetail> =>
  request("POST", "/api/agents", { body: spec });

export const replaceAgent = (name: string, spec: AgentSpec): Promise<AgentDetail> =>
  request("PUT", agentPath(name), { body: spec });

/** A detail without its metadata: the component as it is written (type and name first). */
export function editableOf(detail: Record<string, unknown>): Record<string, unknown> {
  const meta = new Set<string>(META_FIELDS);
  const out: Record<string, unknown> = { type: detail["type"], name: detail["name"] };
  for (const [key, value] of Object.entries(detail)) {
    if (!meta.has(key) && !(key in out)) out[key] = value;
  }
  return out;
}
