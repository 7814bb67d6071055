// The AG-UI client's HttpAgent against a live Agio (tests/api/test_agui_node.py starts it).
// Usage: node run.mjs <base url> <api key>
// Runs two agents: one that answers, one that calls a front-end tool, which this script
// answers as a browser would, then runs the agent again on the same thread. Prints one
// JSON object: what the agent saw and kept, for the Python test to check.
import { HttpAgent } from "@ag-ui/client";

const [base, apiKey] = process.argv.slice(2);
const headers = { "X-API-Key": apiKey };

const weatherTool = {
  name: "get_weather",
  description: "The weather in a city, as the user's browser knows it.",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
  },
};

function recorder() {
  const seen = { events: [], finished: [], errors: [], toolCalls: [] };
  const subscriber = {
    onEvent: ({ event }) => {
      seen.events.push(event.type);
    },
    onRunFinishedEvent: ({ event }) => {
      seen.finished.push(event);
    },
    onRunErrorEvent: ({ event }) => {
      seen.errors.push(event);
    },
    onNewToolCall: ({ toolCall }) => {
      seen.toolCalls.push(toolCall);
    },
  };
  return { seen, subscriber };
}

function plainMessages(messages) {
  return messages.map((m) => ({
    role: m.role,
    content: m.content ?? null,
    toolCalls: (m.toolCalls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
    toolCallId: m.toolCallId ?? null,
  }));
}

async function main() {
  const out = {};

  // 1. a plain answer
  const plain = new HttpAgent({ url: `${base}/api/agui/agui_plain`, headers, threadId: `node-${Date.now()}` });
  plain.addMessage({ id: "u1", role: "user", content: "Hi from Node" });
  const first = recorder();
  const answered = await plain.runAgent({}, first.subscriber);
  out.plain = {
    result: answered.result ?? null,
    newMessages: plainMessages(answered.newMessages),
    events: first.seen.events,
    errors: first.seen.errors,
  };

  // 2. a front-end tool: the run ends with the call pending; the "browser" answers it
  const front = new HttpAgent({ url: `${base}/api/agui/agui_front`, headers, threadId: `node-front-${Date.now()}` });
  front.addMessage({ id: "u2", role: "user", content: "What is the weather in Paris?" });
  const asked = recorder();
  const handedBack = await front.runAgent({ tools: [weatherTool] }, asked.subscriber);
  const call = asked.seen.toolCalls[0];
  out.handedBack = {
    newMessages: plainMessages(handedBack.newMessages),
    events: asked.seen.events,
    toolCalls: asked.seen.toolCalls.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
    outcome: asked.seen.finished[0]?.outcome ?? null,
    errors: asked.seen.errors,
  };
  const args = JSON.parse(call.function.arguments);
  front.addMessage({
    id: "t1",
    role: "tool",
    toolCallId: call.id,
    content: JSON.stringify({ city: args.city, sky: "sunny" }),
  });
  const after = recorder();
  const finished = await front.runAgent({ tools: [weatherTool] }, after.subscriber);
  out.continued = {
    result: finished.result ?? null,
    newMessages: plainMessages(finished.newMessages),
    events: after.seen.events,
    errors: after.seen.errors,
  };
  out.thread = plainMessages(front.messages);
  process.stdout.write(JSON.stringify(out));
}

main().catch((error) => {
  process.stderr.write(`${error?.stack ?? error}\n`);
  process.exit(1);
});
