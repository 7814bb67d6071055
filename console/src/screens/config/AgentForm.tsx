// The agent form: model, system prompt, tools, memory, knowledge and the run settings,
// saved with PUT /api/agents/{name} (or POST /api/agents for a new one). The server's
// 422 details are shown by the field they are about.

import { useState } from "preact/hooks";
import { createAgent, replaceAgent, type AgentDetail, type AgentSpec } from "../../api/components";
import { placeErrors } from "./fieldErrors";
import { controlProps, Field, FormNotice } from "./FormParts";
import { useComponentNames } from "./useComponentNames";

const FIELDS = [
  "name",
  "description",
  "model",
  "system_prompt",
  "tools",
  "memory",
  "knowledge",
  "agents",
  "config.max_steps",
  "config.temperature",
  "config.max_tokens",
  "config.tool_timeout",
  "config.max_parallel_tool_calls",
  "config",
  "tags",
  "enabled",
] as const;

const NUMBERS = ["max_steps", "temperature", "max_tokens", "tool_timeout", "max_parallel_tool_calls"] as const;
type NumberName = (typeof NUMBERS)[number];

interface Draft {
  name: string;
  description: string;
  model: string;
  system_prompt: string;
  tools: string[];
  agents: string;
  memory: string;
  knowledge: string;
  numbers: Record<NumberName, string>;
  tags: string;
  enabled: boolean;
}

function draftOf(agent: AgentDetail | null): Draft {
  const numbers = {} as Record<NumberName, string>;
  for (const n of NUMBERS) {
    const value = agent?.config[n];
    numbers[n] = value === null || value === undefined ? "" : String(value);
  }
  return {
    name: agent?.name ?? "",
    description: agent?.description ?? "",
    model: agent?.model ?? "",
    system_prompt: agent?.system_prompt ?? "",
    tools: agent?.tools ?? [],
    agents: (agent?.agents ?? []).join(", "),
    memory: agent?.memory ?? "",
    knowledge: agent?.knowledge ?? "",
    numbers,
    tags: (agent?.tags ?? []).join(", "),
    enabled: agent?.enabled ?? true,
  };
}

function specOf(draft: Draft): AgentSpec {
  const config: AgentSpec["config"] = {};
  for (const n of NUMBERS) {
    const text = draft.numbers[n].trim();
    // a number the browser could not read stays text: the server says what is wrong
    if (text) config[n] = Number.isNaN(Number(text)) ? (text as unknown as number) : Number(text);
    else if (n === "temperature" || n === "max_tokens" || n === "tool_timeout") config[n] = null;
  }
  return {
    name: draft.name.trim(),
    description: draft.description,
    model: draft.model.trim(),
    tools: draft.tools,
    agents: draft.agents
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
    memory: draft.memory || null,
    knowledge: draft.knowledge || null,
    system_prompt: draft.system_prompt,
    config,
    tags: draft.tags
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
    enabled: draft.enabled,
  };
}

const LABELS: Record<NumberName, [string, string]> = {
  max_steps: ["Max steps", "model calls per run, 1–100"],
  temperature: ["Temperature", "0–2; empty: the model's"],
  max_tokens: ["Max tokens", "per model call; empty: the model's"],
  tool_timeout: ["Tool timeout (s)", "empty: each tool's own"],
  max_parallel_tool_calls: ["Parallel tool calls", "1–64"],
};

export function AgentForm(props: { agent: AgentDetail | null; onSaved: (agent: AgentDetail) => void }) {
  const creating = props.agent === null;
  const [draft, setDraft] = useState<Draft>(() => draftOf(props.agent));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const names = useComponentNames(["model", "tool", "memory", "knowledge"]);
  const placed = placeErrors(error, ["body"], FIELDS);
  const set = (change: Partial<Draft>): void => setDraft({ ...draft, ...change });
  const text = (name: "name" | "description" | "model" | "system_prompt" | "tags" | "memory" | "knowledge" | "agents") => ({
    ...controlProps(placed, name),
    name,
    value: draft[name],
    onInput: (e: Event) => set({ [name]: (e.currentTarget as HTMLInputElement).value }),
  });
  const tools = [...new Set([...(names.tool ?? []), ...draft.tools])];

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const spec = specOf(draft);
      const saved = creating ? await createAgent(spec) : await replaceAgent(props.agent?.name ?? spec.name, spec);
      setDraft(draftOf(saved));
      props.onSaved(saved);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="component-form" aria-label={creating ? "New agent" : `Agent ${draft.name}`} onSubmit={submit} noValidate>
      <FormNotice error={error} placed={placed} />
      <div class="field-row">
        {creating ? (
          <Field path="name" label="Name" placed={placed} hint="lower-case letters, digits, _ and -">
            <input {...text("name")} required autoComplete="off" />
          </Field>
        ) : null}
        <Field path="model" label="Model" placed={placed} hint="a model component's name">
          <input {...text("model")} list="agent-form-models" required autoComplete="off" />
          <datalist id="agent-form-models">
            {(names.model ?? []).map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
        </Field>
      </div>
      <Field path="description" label="Description" placed={placed}>
        <input {...text("description")} />
      </Field>
      <Field path="system_prompt" label="System prompt" placed={placed}>
        <textarea {...text("system_prompt")} rows={5} />
      </Field>
      <fieldset class={placed.at("tools").length ? "field has-error" : "field"} data-field="tools">
        <legend>Tools</legend>
        {tools.length === 0 ? <p class="muted small">No tool components.</p> : null}
        <div class="check-list">
          {tools.map((t) => (
            <label class="check" key={t}>
              <input
                type="checkbox"
                name="tools"
                value={t}
                checked={draft.tools.includes(t)}
                onChange={(e) =>
                  set({
                    tools: e.currentTarget.checked ? [...draft.tools, t] : draft.tools.filter((x) => x !== t),
                  })
                }
              />
              {t}
            </label>
          ))}
        </div>
        {placed.at("tools").length ? (
          <p class="field-error" role="alert">
            {placed.at("tools").join("; ")}
          </p>
        ) : null}
      </fieldset>
      <div class="field-row">
        <Field path="memory" label="Memory" placed={placed}>
          <select {...text("memory")} onChange={text("memory").onInput}>
            <option value="">None</option>
            {[...new Set([...(names.memory ?? []), ...(draft.memory ? [draft.memory] : [])])].map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </Field>
        <Field path="knowledge" label="Knowledge" placed={placed}>
          <select {...text("knowledge")} onChange={text("knowledge").onInput}>
            <option value="">None</option>
            {[...new Set([...(names.knowledge ?? []), ...(draft.knowledge ? [draft.knowledge] : [])])].map((k) => (
              <option key={k} value={k}>
                {k}
              </option>
            ))}
          </select>
        </Field>
        <Field path="agents" label="Agents it may ask" placed={placed} hint="comma-separated: each is a tool ask_<name>">
          <input {...text("agents")} placeholder="none" />
        </Field>
      </div>
      <fieldset class="field" data-field="config">
        <legend>Run settings</legend>
        <div class="field-row">
          {NUMBERS.map((n) => (
            <Field key={n} path={`config.${n}`} label={LABELS[n][0]} placed={placed} hint={LABELS[n][1]}>
              <input
                {...controlProps(placed, `config.${n}`)}
                name={n}
                inputMode="decimal"
                value={draft.numbers[n]}
                onInput={(e) => set({ numbers: { ...draft.numbers, [n]: e.currentTarget.value } })}
              />
            </Field>
          ))}
        </div>
        {placed.at("config").length ? (
          <p class="field-error" role="alert">
            {placed.at("config").join("; ")}
          </p>
        ) : null}
      </fieldset>
      <div class="field-row">
        <Field path="tags" label="Tags" placed={placed} hint="separated by commas">
          <input {...text("tags")} />
        </Field>
        <label class="check enabled-check">
          <input type="checkbox" name="enabled" checked={draft.enabled} onChange={(e) => set({ enabled: e.currentTarget.checked })} />
          Enabled
        </label>
      </div>
      <div class="button-row">
        <button type="submit" class="button primary" disabled={busy}>
          {creating ? "Create agent" : "Save"}
        </button>
      </div>
    </form>
  );
}
