// Health: the server's overall status and each component's state (with its latency,
// what the probe found, the models' probes and the configs' problems when the report is
// the full one), read again every five seconds while the page is visible.

import { useState } from "preact/hooks";
import { ApiError } from "../../api/http";
import { health, type Health as Report, type ProbeResult } from "../../api/health";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { usePolling } from "../runs/usePolling";
import "./health.css";

export default function Health() {
  const [report, setReport] = useState<Report | null>(null);
  const [error, setError] = useState<unknown>(null);
  usePolling(
    async (signal) => {
      try {
        setReport(await health(signal));
        setError(null);
      } catch (e) {
        if (!(e instanceof ApiError && e.body.type === "Aborted")) setError(e);
      }
    },
    5000,
    [],
  );
  return (
    <section class="screen" aria-labelledby="health-title">
      <h1 id="health-title">Health</h1>
      <ErrorNotice error={error} title="The health report could not be read" />
      {report ? (
        <>
          <p class="health-overall" aria-live="polite">
            Status: <strong class={`health-${report.status}`} data-status={report.status}>{report.status}</strong>
            <span class="muted small">
              {" "}
              · checked {dateTime(report.timestamp)}
              {report.version ? ` · Agio ${report.version}` : ""} · authentication {report.auth.status}
            </span>
          </p>
          {report.reasons?.length ? (
            <ul class="health-reasons">
              {report.reasons.map((r) => (
                <li key={r}>{r}</li>
              ))}
            </ul>
          ) : null}
          <div class="table-wrap">
            <table class="table health-table">
              <caption class="visually-hidden">Components</caption>
              <thead>
                <tr>
                  <th scope="col">Component</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">Latency</th>
                  <th scope="col" class="wide">Detail</th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(report.components).map(([name, probe]) => (
                  <tr key={name} data-component={name}>
                    <th scope="row">{name}</th>
                    <td>
                      <span class={`health-${probe.status}`} data-status={probe.status}>
                        {probe.status}
                      </span>
                    </td>
                    <td class="num">{typeof probe.latency_ms === "number" ? `${probe.latency_ms.toFixed(1)} ms` : "–"}</td>
                    <td class="wide">
                      <Detail probe={probe} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : error ? null : (
        <p class="muted">Loading…</p>
      )}
    </section>
  );
}

function Detail({ probe }: { probe: ProbeResult }) {
  const models = Object.entries(probe.models ?? {});
  const problems = probe.problems ?? [];
  return (
    <>
      {probe.detail ? <span>{probe.detail}</span> : null}
      {models.length ? (
        <ul class="plain small">
          {models.map(([name, found]) => (
            <li key={name}>
              <code>{name}</code>: {found}
            </li>
          ))}
        </ul>
      ) : null}
      {problems.length ? (
        <ul class="plain small">
          {problems.map((p) => (
            <li key={`${p.path}:${p.field ?? ""}`}>
              <code>{p.path}</code>
              {p.field ? ` (${p.field})` : ""}: {p.message}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}
