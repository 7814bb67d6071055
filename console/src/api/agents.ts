import { get } from "./http";
import type { AgentSummary, ConfigList, Page } from "./types";

export const listAgents = (signal?: AbortSignal): Promise<Page<AgentSummary>> =>
  get("/api/agents", { limit: 100 }, signal);

/** What a chat may talk to: the agents, then the workflows (SPEC §20: run like agents). */
export async function listChatTargets(signal?: AbortSignal): Promise<AgentSummary[]> {
  const [agents, workflows] = await Promise.all([
    listAgents(signal),
    get<ConfigList>("/api/config", { type: "workflow", limit: 1000 }, signal),
  ]);
  const now = new Date().toISOString();
  return [
    ...agents.items,
    ...workflows.configs
      .filter((w) => w.enabled !== false)
      .map((w) => ({
        id: w.name,
        name: w.name,
        description: w.description ?? "",
        model: "workflow",
        tools: [],
        tags: w.tags ?? [],
        enabled: true,
        created_at: now,
        updated_at: now,
      })),
  ];
}

/** The names of the model components (what a fork may switch to). */
export async function listModels(): Promise<string[]> {
  const list = await get<ConfigList>("/api/config", { type: "model", limit: 1000 });
  return list.configs.map((c) => c.name);
}
