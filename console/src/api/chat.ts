// POST /api/chat with stream: true: the run's events as they happen (fetch + a
// ReadableStream SSE parser, since EventSource cannot POST).

import { eventOf } from "./events";
import { send } from "./http";
import { readSse } from "./sse";
import type { ChatRequest, RunEvent } from "./types";

export interface ChatStream {
  runId: string;
  sessionId: string;
  events: AsyncGenerator<RunEvent>;
}

export async function startChat(body: ChatRequest, signal: AbortSignal): Promise<ChatStream> {
  const response = await send("POST", "/api/chat", { body, accept: "text/event-stream", signal });
  if (!response.body) throw new Error("The chat response has no body");
  const messages = readSse(response.body);
  async function* events(): AsyncGenerator<RunEvent> {
    for await (const message of messages) {
      const event = eventOf(message.event, message.id, message.data);
      if (event) yield event;
    }
  }
  return {
    runId: response.headers.get("X-Run-ID") ?? "",
    sessionId: response.headers.get("X-Session-ID") ?? "",
    events: events(),
  };
}
