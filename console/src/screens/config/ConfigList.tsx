// Agents and components (/config?type=…): the agents (GET /api/agents) and every other
// type of component (GET /api/config?type=…), each a link to its page; new ones.

import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { COMPONENT_TYPES, listAllAgents, listComponents, type ComponentSummary, type ComponentType } from "../../api/components";
import type { AgentSummary } from "../../api/types";
import { useAuth } from "../../auth";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { Tabs } from "./Tabs";
import { TYPE_TITLES } from "./templates";
import "./config.css";

export default function ConfigList() {
  const { query, route } = useLocation();
  const { principal } = useAuth();
  const type: ComponentType = (COMPONENT_TYPES as readonly string[]).includes(query["type"] ?? "")
    ? (query["type"] as ComponentType)
    : "agent";
  const [agents, setAgents] = useState<AgentSummary[] | null>(null);
  const [components, setComponents] = useState<ComponentSummary[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const controller = new AbortController();
    setError(null);
    setComponents(null);
    if (type === "agent") listAllAgents(controller.signal).then((p) => setAgents(p.items), setError);
    listComponents(type, controller.signal).then((l) => setComponents(l.configs), setError);
    return () => controller.abort();
  }, [type]);
  const canWrite = principal.permissions.includes(type === "agent" ? "write:agent" : "write:config");
  const bySummary = new Map((components ?? []).map((c) => [c.name, c]));
  return (
    <section class="screen" aria-labelledby="config-title">
      <div class="run-header">
        <h1 id="config-title">Agents and components</h1>
        {canWrite ? (
          <div class="button-row">
            <a class="button primary" href={`/config/new/${type}`}>
              New {type}
            </a>
            <a class="button" href={`/config/new/${type}?tab=yaml`}>
              New {type} as YAML
            </a>
          </div>
        ) : null}
      </div>
      <Tabs
        label="Component types"
        current={type}
        items={COMPONENT_TYPES.map((t) => ({ id: t, title: TYPE_TITLES[t], href: `/config?type=${t}` }))}
        onPick={(href) => route(href)}
      />
      <ErrorNotice error={error} title="The components could not be read" />
      {type === "agent" ? (
        agents ? (
          <AgentsTable agents={agents} summaries={bySummary} />
        ) : (
          <p class="muted">Loading…</p>
        )
      ) : components ? (
        <ComponentsTable components={components} />
      ) : (
        <p class="muted">Loading…</p>
      )}
    </section>
  );
}

function AgentsTable({ agents, summaries }: { agents: AgentSummary[]; summaries: Map<string, ComponentSummary> }) {
  if (agents.length === 0) return <p class="muted empty">No agents yet.</p>;
  return (
    <div class="table-wrap">
      <table class="table">
        <caption class="visually-hidden">Agents</caption>
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col" class="wide">
              Description
            </th>
            <th scope="col">Model</th>
            <th scope="col">Tools</th>
            <th scope="col" class="num">
              Revision
            </th>
            <th scope="col">Changed</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => (
            <tr key={a.id} data-component={a.name}>
              <td>
                <a href={`/config/${encodeURIComponent(a.name)}`} class="mono">
                  {a.name}
                </a>
                {a.enabled ? null : <span class="muted small"> (disabled)</span>}
              </td>
              <td class="wide">{a.description}</td>
              <td>
                <a href={`/config/${encodeURIComponent(a.model)}`} class="mono">
                  {a.model}
                </a>
              </td>
              <td>{a.tools.join(", ") || "–"}</td>
              <td class="num">{summaries.get(a.name)?.revision ?? "–"}</td>
              <td>{dateTime(a.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ComponentsTable({ components }: { components: ComponentSummary[] }) {
  if (components.length === 0) return <p class="muted empty">None yet.</p>;
  return (
    <div class="table-wrap">
      <table class="table">
        <caption class="visually-hidden">Components</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col" class="wide">
              Description
            </th>
            <th scope="col">Source</th>
            <th scope="col" class="num">
              Revision
            </th>
            <th scope="col">Changed</th>
          </tr>
        </thead>
        <tbody>
          {components.map((c) => (
            <tr key={c.id} data-component={c.name}>
              <td>
                <a href={`/config/${encodeURIComponent(c.name)}`} class="mono">
                  {c.name}
                </a>
                {c.enabled ? null : <span class="muted small"> (disabled)</span>}
              </td>
              <td class="wide">{c.description}</td>
              <td class="mono small">{c.source}</td>
              <td class="num">{c.revision}</td>
              <td>{dateTime(c.updated_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
