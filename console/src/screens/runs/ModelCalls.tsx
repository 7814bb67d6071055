// The run's model-call log: each call with its model, tokens, latency, retries and error,
// and, opened, the whole request (messages, tools) and the response. Read again whenever
// the run changes; 20 calls a page, more on request.

import { useEffect, useState } from "preact/hooks";
import { modelCalls, type ModelCall } from "../../api/runs";
import { ErrorNotice } from "../../components/ErrorNotice";
import { JsonView } from "../../components/JsonView";
import { count, dateTime } from "../../format";

const PAGE = 20;

function ms(value: number | null): string {
  return value === null ? "–" : value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${Math.round(value)} ms`;
}

export function ModelCalls(props: { runId: string; version: string }) {
  const [calls, setCalls] = useState<ModelCall[]>([]);
  const [total, setTotal] = useState(0);
  const [shown, setShown] = useState(PAGE);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const controller = new AbortController();
    (async () => {
      const items: ModelCall[] = [];
      let all = 0;
      while (items.length < shown) {
        const page = await modelCalls(props.runId, items.length, Math.min(100, shown - items.length), controller.signal);
        items.push(...page.items);
        all = page.total;
        if (!page.has_more || page.items.length === 0) break;
      }
      setCalls(items);
      setTotal(all);
      setError(null);
    })().catch((e: unknown) => {
      if (!controller.signal.aborted) setError(e);
    });
    return () => controller.abort();
  }, [props.runId, props.version, shown]);
  if (error) return <ErrorNotice error={error} title="The model calls could not be read" />;
  if (!calls.length) return <p class="muted">No model call recorded.</p>;
  return (
    <>
      <ol class="steps model-calls">
        {calls.map((c) => (
          <li key={c.number} class="step model-call" data-call={c.number}>
            <h3>
              Call {c.number} · step {c.step} · <span class="mono">{c.model}</span>
            </h3>
            <p class="step-figures muted">
              {count(c.usage.prompt_tokens)} prompt + {count(c.usage.completion_tokens)} completion tokens · {ms(c.latency_ms)}
              {c.first_token_ms !== null ? ` (first token ${ms(c.first_token_ms)})` : ""}
              {c.retries ? ` · ${c.retries} ${c.retries === 1 ? "retry" : "retries"}` : ""} · {dateTime(c.started_at)}
            </p>
            {c.error ? (
              <p class="notice notice-error model-call-error">
                {c.error.type}: {c.error.message}
              </p>
            ) : null}
            <details>
              <summary>
                Request: {c.messages.length} messages, {c.tools.length} tools
              </summary>
              <JsonView value={c.messages} label={`Messages of model call ${c.number}`} />
              {c.tools.length ? <JsonView value={c.tools} label={`Tools of model call ${c.number}`} /> : null}
            </details>
            {c.response ? (
              <details>
                <summary>Response</summary>
                <JsonView value={c.response} label={`Response of model call ${c.number}`} />
              </details>
            ) : null}
          </li>
        ))}
      </ol>
      {total > calls.length ? (
        <button type="button" class="button small" onClick={() => setShown(shown + PAGE)}>
          Show more ({total - calls.length} more)
        </button>
      ) : null}
    </>
  );
}
