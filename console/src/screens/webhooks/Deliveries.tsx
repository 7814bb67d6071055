// The deliveries of one webhook, newest first, read again every two seconds: each event
// sent (or being retried) with its state, attempts, last answer and next retry.

import { useState } from "preact/hooks";
import { listDeliveries, type Delivery } from "../../api/webhooks";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { usePolling } from "../runs/usePolling";

const PAGE = 50;

export function Deliveries({ webhookId, onClose }: { webhookId: string; onClose: () => void }) {
  const [items, setItems] = useState<Delivery[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<unknown>(null);
  usePolling(
    async (signal) => {
      try {
        const page = await listDeliveries(webhookId, 0, PAGE, signal);
        setItems(page.items);
        setTotal(page.total);
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    2000,
    [webhookId],
  );
  return (
    <section class="panel" aria-labelledby="deliveries-title" data-deliveries-of={webhookId}>
      <div class="panel-head">
        <h2 id="deliveries-title">
          Deliveries <span class="mono small">{webhookId}</span>
        </h2>
        <button type="button" class="button ghost" onClick={onClose}>
          Close
        </button>
      </div>
      <ErrorNotice error={error} title="Deliveries" />
      {items === null ? (
        <p class="muted">Loading…</p>
      ) : items.length === 0 ? (
        <p class="muted" data-empty="deliveries">
          Nothing sent yet: deliveries appear when a run this webhook listens to emits one of its events.
        </p>
      ) : (
        <div class="table-wrap">
          <table class="table deliveries-table">
            <caption class="visually-hidden">Deliveries</caption>
            <thead>
              <tr>
                <th scope="col">Event</th>
                <th scope="col">Run</th>
                <th scope="col">Status</th>
                <th scope="col">Attempts</th>
                <th scope="col">Last code</th>
                <th scope="col">Last error</th>
                <th scope="col">Next retry</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {items.map((d) => (
                <tr key={d.id} data-delivery-id={d.id} data-status={d.status}>
                  <th scope="row" class="mono">
                    {d.event_type}
                  </th>
                  <td>
                    <a class="mono small" href={`/runs/${encodeURIComponent(d.run_id)}`}>
                      {d.run_id}
                    </a>
                  </td>
                  <td>
                    <span class={`badge delivery-${d.status}`}>{d.status}</span>
                  </td>
                  <td data-field="attempts">{d.attempts}</td>
                  <td data-field="code">{d.last_response_code ?? "—"}</td>
                  <td class="small">{d.last_error ?? "—"}</td>
                  <td>{d.next_retry_at ? dateTime(d.next_retry_at) : "—"}</td>
                  <td>{dateTime(d.created_at)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {total > PAGE ? <p class="muted small">The newest {PAGE} of {total}.</p> : null}
    </section>
  );
}
