import { get } from "./http";
import type { AgentSummary, ConfigList, Page } from "./types";

export const listAgents = (signal?: AbortSignal): Promise<Page<AgentSummary>> =>
  get("/api/agents", { limit: 100 }, signal);

/** The names of the model components (what a fork may switch to). */
export async function listModels(): Promise<string[]> {
  const list = await get<ConfigList>("/api/config", { type: "model", limit: 1000 });
  return list.configs.map((c) => c.name);
}
