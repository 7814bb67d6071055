// Webhooks: the caller's subscriptions (an admin's: everyone's), a new one (URL, events,
// agent) whose signing secret is shown once, deleting one (asked twice: Delete, then
// Confirm), and the deliveries of the one selected (Deliveries.tsx).

import { useCallback, useEffect, useState } from "preact/hooks";
import { listAgents } from "../../api/agents";
import type { AgentSummary } from "../../api/types";
import {
  WEBHOOK_EVENTS,
  createWebhook,
  deleteWebhook,
  listWebhooks,
  type Webhook,
  type WebhookCreated,
  type WebhookEvent,
} from "../../api/webhooks";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { Deliveries } from "./Deliveries";
import "./webhooks.css";

const PAGE = 50;

export default function Webhooks() {
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [total, setTotal] = useState(0);
  const [offset, setOffset] = useState(0);
  const [agents, setAgents] = useState<AgentSummary[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [created, setCreated] = useState<WebhookCreated | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);

  const reload = useCallback(async (): Promise<void> => {
    try {
      const page = await listWebhooks(offset, PAGE);
      setHooks(page.items);
      setTotal(page.total);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [offset]);
  useEffect(() => void reload(), [reload]);
  useEffect(() => {
    listAgents()
      .then((page) => setAgents(page.items))
      .catch(() => setAgents([]));
  }, []);
  const agentName = (id: string | null): string =>
    id === null ? "every agent" : (agents.find((a) => a.id === id)?.name ?? id);

  const remove = async (hook: Webhook): Promise<void> => {
    try {
      await deleteWebhook(hook.id);
      setConfirming(null);
      if (selected === hook.id) setSelected(null);
      await reload();
    } catch (e) {
      setError(e);
    }
  };

  return (
    <section class="screen" aria-labelledby="webhooks-title">
      <h1 id="webhooks-title">Webhooks</h1>
      <p class="muted">
        Agio POSTs run events to these URLs, signed the Standard Webhooks way with each webhook's secret, and retries
        for a day until the receiver answers 2xx.
      </p>
      {created ? <SecretShown created={created} onDone={() => setCreated(null)} /> : null}
      <ErrorNotice error={error} title="Webhooks" />
      {hooks === null ? (
        <p class="muted">Loading…</p>
      ) : hooks.length === 0 ? (
        <p class="muted" data-empty="webhooks">
          No webhooks yet.
        </p>
      ) : (
        <div class="table-wrap">
          <table class="table webhooks-table">
            <caption class="visually-hidden">Webhooks</caption>
            <thead>
              <tr>
                <th scope="col">URL</th>
                <th scope="col">Events</th>
                <th scope="col">Agent</th>
                <th scope="col">Runs</th>
                <th scope="col">Created</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {hooks.map((h) => (
                <tr key={h.id} data-webhook-id={h.id} aria-selected={selected === h.id}>
                  <th scope="row" class="mono webhook-url">
                    {h.url}
                  </th>
                  <td>{h.events.join(", ")}</td>
                  <td>{agentName(h.agent_id)}</td>
                  <td>{h.scope === "all_runs" ? "everyone's" : "own"}</td>
                  <td>{dateTime(h.created_at)}</td>
                  <td>
                    <span class="button-row">
                      <button type="button" class="button" onClick={() => setSelected(h.id)}>
                        Deliveries
                      </button>
                      {confirming === h.id ? (
                        <>
                          <button type="button" class="button danger" onClick={() => void remove(h)}>
                            Confirm deleting
                          </button>
                          <button type="button" class="button ghost" onClick={() => setConfirming(null)}>
                            Keep it
                          </button>
                        </>
                      ) : (
                        <button type="button" class="button" onClick={() => setConfirming(h.id)}>
                          Delete
                        </button>
                      )}
                    </span>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {total > PAGE ? (
        <nav class="pager" aria-label="Webhook pages">
          <button type="button" class="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Previous
          </button>
          <span class="muted">
            {offset + 1}–{offset + (hooks?.length ?? 0)} of {total}
          </span>
          <button type="button" class="button" disabled={offset + PAGE >= total} onClick={() => setOffset(offset + PAGE)}>
            Next
          </button>
        </nav>
      ) : null}
      {selected ? <Deliveries webhookId={selected} onClose={() => setSelected(null)} /> : null}
      <NewWebhook
        agents={agents}
        onCreated={(hook) => {
          setCreated(hook);
          void reload();
        }}
      />
    </section>
  );
}

function NewWebhook({ agents, onCreated }: { agents: AgentSummary[]; onCreated: (hook: WebhookCreated) => void }) {
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<WebhookEvent[]>(["run.completed", "run.failed"]);
  const [agent, setAgent] = useState("");
  const [error, setError] = useState<unknown>(null);
  const toggle = (event: WebhookEvent, on: boolean): void =>
    setEvents((now) => (on ? [...now.filter((e) => e !== event), event] : now.filter((e) => e !== event)));
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    try {
      const hook = await createWebhook({ url, events, ...(agent ? { agent_id: agent } : {}) });
      setError(null);
      setUrl("");
      onCreated(hook);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form class="panel" aria-labelledby="new-webhook-title" onSubmit={(e) => void submit(e)}>
      <h2 id="new-webhook-title">New webhook</h2>
      <div class="field-row">
        <label class="field webhook-url-field">
          <span>URL</span>
          <input
            type="url"
            required
            maxLength={2048}
            placeholder="https://hooks.example.com/agio"
            value={url}
            onInput={(e) => setUrl(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>Agent</span>
          <select value={agent} onChange={(e) => setAgent(e.currentTarget.value)}>
            <option value="">Every agent</option>
            {agents.map((a) => (
              <option key={a.id} value={a.id}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      <fieldset class="webhook-events">
        <legend>Events</legend>
        {WEBHOOK_EVENTS.map((event) => (
          <label key={event} class="check">
            <input
              type="checkbox"
              name="events"
              value={event}
              checked={events.includes(event)}
              onChange={(e) => toggle(event, e.currentTarget.checked)}
            />
            <span class="mono">{event}</span>
          </label>
        ))}
      </fieldset>
      <ErrorNotice error={error} title="The webhook could not be created" />
      <div class="button-row">
        <button type="submit" class="button primary" disabled={events.length === 0}>
          Create webhook
        </button>
      </div>
    </form>
  );
}

function SecretShown({ created, onDone }: { created: WebhookCreated; onDone: () => void }) {
  const [copied, setCopied] = useState("");
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(created.secret);
      setCopied("Copied.");
    } catch {
      setCopied("The browser refused to copy: select the secret and copy it by hand.");
    }
  };
  return (
    <div class="key-once" role="alert" aria-labelledby="secret-once-title">
      <h2 id="secret-once-title">Signing secret of the new webhook</h2>
      <p>
        <strong>Copy it now: it is shown this once.</strong> Your receiver verifies each delivery's{" "}
        <code>webhook-signature</code> with it.
      </p>
      <p>
        <code class="mono" data-secret="plaintext">
          {created.secret}
        </code>
      </p>
      <div class="button-row">
        <button type="button" class="button" onClick={() => void copy()}>
          Copy secret
        </button>
        <button type="button" class="button ghost" onClick={onDone}>
          I have stored it
        </button>
        {copied ? <span role="status">{copied}</span> : null}
      </div>
    </div>
  );
}
