// The run's steps: model calls with their tokens and answer, tool rounds with each call's
// arguments, result and duration.

import { text } from "../../api/events";
import type { Step } from "../../api/types";
import { duration, json, shorten } from "../../format";

function ModelStep({ step }: { step: Step }) {
  const response = step.model_response ?? {};
  const content = text(response["content"]);
  const calls = Array.isArray(response["tool_calls"]) ? (response["tool_calls"] as Record<string, unknown>[]) : [];
  return (
    <>
      <p class="step-figures muted">
        {step.metrics["prompt_tokens"] ?? 0} prompt + {step.metrics["completion_tokens"] ?? 0} completion tokens ·{" "}
        {duration(step.metrics["duration"])}
      </p>
      {content ? <p class="step-text">{shorten(content, 400)}</p> : null}
      {calls.length ? (
        <p class="muted">
          asks for:{" "}
          {calls.map((c) => `${text(c["name"])}(${JSON.stringify(c["arguments"] ?? {})})`).join(", ")}
        </p>
      ) : null}
    </>
  );
}

function ToolStep({ step }: { step: Step }) {
  return (
    <div class="table-wrap">
    <table class="table compact">
      <thead>
        <tr>
          <th scope="col">Tool</th>
          <th scope="col">Arguments</th>
          <th scope="col">Result</th>
          <th scope="col" class="num">
            Duration
          </th>
        </tr>
      </thead>
      <tbody>
        {step.tool_calls.map((c) => (
          <tr key={c.call_id} data-tool={c.tool}>
            <td>{c.tool}</td>
            <td>
              <code>{JSON.stringify(c.args)}</code>
            </td>
            <td class={c.error ? "error-text" : ""}>
              <code>{shorten(c.error ? `error: ${c.error}` : typeof c.result === "string" ? c.result : json(c.result), 200)}</code>
            </td>
            <td class="num">{duration(c.duration)}</td>
          </tr>
        ))}
      </tbody>
    </table>
    </div>
  );
}

export function Steps({ steps, superseded }: { steps: Step[]; superseded: Step[] }) {
  if (steps.length === 0 && superseded.length === 0) return <p class="muted">No step has finished yet.</p>;
  return (
    <>
      <ol class="steps">
        {steps.map((s) => (
          <li key={s.step_num} class={`step step-${s.type}`} data-step={s.step_num}>
            <h3>
              Step {s.step_num} · {s.type === "llm_call" ? "model call" : "tool calls"}
            </h3>
            {s.type === "llm_call" ? <ModelStep step={s} /> : <ToolStep step={s} />}
          </li>
        ))}
      </ol>
      {superseded.length ? (
        <details>
          <summary>{superseded.length} superseded steps (replaced by a restore or a recovery)</summary>
          <ol class="steps superseded">
            {superseded.map((s, i) => (
              <li key={i} class="step">
                <h3>
                  Step {s.step_num} · {s.type}
                </h3>
                {s.type === "llm_call" ? <ModelStep step={s} /> : <ToolStep step={s} />}
              </li>
            ))}
          </ol>
        </details>
      ) : null}
    </>
  );
}
