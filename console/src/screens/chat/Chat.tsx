// Chat: pick an agent and a conversation, send a message, and watch the answer stream
// in with its tool calls; pause, resume or cancel the run; open its run page.
// The agent and the session are in the URL (/chat?agent=…&session=…).

import { useEffect, useRef, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { listChatTargets } from "../../api/agents";
import { startChat } from "../../api/chat";
import { getSession, listSessions } from "../../api/sessions";
import type { AgentSummary, ChatRequest, SessionSummary } from "../../api/types";
import { ErrorNotice, messageOf } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { TurnView } from "./Transcript";
import { applyEvent, turnsOf, type Turn } from "./transcript";

function chatUrl(agent: string, session: string): string {
  const params = new URLSearchParams();
  if (agent) params.set("agent", agent);
  if (session) params.set("session", session);
  const query = params.toString();
  return query ? `/chat?${query}` : "/chat";
}

export default function Chat() {
  const { query, route } = useLocation();
  const [agents, setAgents] = useState<AgentSummary[] | null>(null);
  const [sessions, setSessions] = useState<SessionSummary[]>([]);
  const [turns, setTurns] = useState<Turn[]>([]);
  const [draft, setDraft] = useState("");
  const [live, setLive] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const stream = useRef<AbortController | null>(null);
  // the session this screen just created: its turns are already shown
  const ownSession = useRef<string | null>(null);

  const agent = query["agent"] ?? agents?.[0]?.name ?? "";
  const session = query["session"] ?? "";

  useEffect(() => {
    listChatTargets().then(setAgents, setError);
    return () => stream.current?.abort(); // the run goes on without us
  }, []);

  const refreshSessions = (): void => {
    if (agent) listSessions(agent).then((page) => setSessions(page.items), setError);
  };
  useEffect(refreshSessions, [agent]);

  useEffect(() => {
    if (session && session === ownSession.current) return;
    ownSession.current = null;
    if (!session) {
      setTurns([]);
      return;
    }
    const controller = new AbortController();
    getSession(session, controller.signal).then((detail) => setTurns(turnsOf(detail)), setError);
    return () => controller.abort();
  }, [session]);

  const update = (key: string, change: (turn: Turn) => Turn): void =>
    setTurns((all) => all.map((t) => (t.key === key ? change(t) : t)));

  const send = async (e: Event): Promise<void> => {
    e.preventDefault();
    // the textarea itself, not the draft state: a key pressed right after typing can
    // reach this handler before the render that would have updated the state
    const field = (e.currentTarget as HTMLFormElement).elements.namedItem("message");
    const message = (field instanceof HTMLTextAreaElement ? field.value : draft).trim();
    if (!message || !agent || live) return;
    const key = `turn-${Date.now()}`;
    setTurns((all) => [...all, { key, user: message, parts: [], status: "starting" }]);
    setDraft("");
    setLive(true);
    setError(null);
    const controller = new AbortController();
    stream.current = controller;
    const body: ChatRequest = { agent_id: agent, message, stream: true };
    if (session) body.session_id = session;
    try {
      const chat = await startChat(body, controller.signal);
      update(key, (t) => ({ ...t, runId: chat.runId, status: "pending" }));
      if (!session && chat.sessionId) {
        ownSession.current = chat.sessionId;
        route(chatUrl(agent, chat.sessionId), true);
      }
      for await (const event of chat.events) update(key, (t) => applyEvent(t, event));
    } catch (err) {
      if (!controller.signal.aborted) update(key, (t) => ({ ...t, status: "failed", error: messageOf(err) }));
    } finally {
      if (stream.current === controller) stream.current = null;
      setLive(false);
      refreshSessions();
    }
  };

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      (e.currentTarget as HTMLTextAreaElement).form?.requestSubmit();
    }
  };

  return (
    <section class="screen chat" aria-labelledby="chat-title">
      <h1 id="chat-title" class="visually-hidden">
        Chat
      </h1>
      <div class="toolbar">
        <label class="field inline">
          <span>Agent</span>
          <select
            name="agent"
            value={agent}
            disabled={live || !agents}
            onChange={(e) => route(chatUrl(e.currentTarget.value, ""))}
          >
            {(agents ?? []).map((a) => (
              <option key={a.id} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </label>
        <label class="field inline">
          <span>Conversation</span>
          <select
            name="session"
            value={session}
            disabled={live}
            onChange={(e) => route(chatUrl(agent, e.currentTarget.value))}
          >
            <option value="">New conversation</option>
            {session && !sessions.some((s) => s.id === session) ? <option value={session}>{session}</option> : null}
            {sessions.map((s) => (
              <option key={s.id} value={s.id}>
                {dateTime(s.updated_at)} · {s.run_count} {s.run_count === 1 ? "run" : "runs"}
              </option>
            ))}
          </select>
        </label>
      </div>
      {agents && agents.length === 0 ? <p class="notice">No agents yet: add one under configs/ or with the API.</p> : null}
      <p class="muted agent-description">{agents?.find((a) => a.name === agent)?.description}</p>
      <ErrorNotice error={error} />
      <ol class="transcript" aria-label="Transcript">
        {turns.map((t, i) => (
          <TurnView key={t.key} turn={t} live={live && i === turns.length - 1} />
        ))}
      </ol>
      {turns.length === 0 ? <p class="muted empty">Say something to {agent || "an agent"}.</p> : null}
      <form class="composer" onSubmit={send}>
        <label class="visually-hidden" for="chat-message">
          Message
        </label>
        <textarea
          id="chat-message"
          name="message"
          rows={2}
          placeholder="Message (Enter sends, Shift+Enter for a new line)"
          value={draft}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={onKeyDown}
        />
        <button type="submit" class="button primary" disabled={live || !draft.trim() || !agent}>
          Send
        </button>
      </form>
    </section>
  );
}
