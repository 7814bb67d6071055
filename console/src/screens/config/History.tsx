// A component's change history (GET /api/config/{name}/history, oldest first): every
// revision, any two of them side by side, and a rollback to an earlier one (with a
// confirm step that lists what would change).

import { useEffect, useState } from "preact/hooks";
import { componentHistory, type HistoryEntry, type RollbackResult } from "../../api/components";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime } from "../../format";
import { DiffView } from "./DiffView";
import { RollbackDialog } from "./RollbackDialog";
import { toYaml } from "./yamlLines";

function textOf(entry: HistoryEntry | undefined): string {
  if (!entry?.new_config) return "";
  const { type, name, ...rest } = entry.new_config;
  return toYaml({ type, name, ...rest });
}

function changeOf(entry: HistoryEntry): string {
  if (entry.change_type === "rolled_back") return `rolled back to ${entry.rolled_back_from ?? "?"}`;
  return entry.change_type;
}

function labelOf(entry: HistoryEntry): string {
  return `Revision ${entry.revision} · ${changeOf(entry)} · ${dateTime(entry.timestamp)}`;
}

export function History(props: {
  name: string;
  version: number;
  /** Whether the caller may roll back (write:config); with the callback for a success. */
  canRollBack: boolean;
  onRolledBack: (result: RollbackResult) => void;
}) {
  const { name, version } = props;
  const [entries, setEntries] = useState<HistoryEntry[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [from, setFrom] = useState(0);
  const [to, setTo] = useState(0);
  const [rollingBack, setRollingBack] = useState<number | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    componentHistory(name, controller.signal).then((h) => {
      setEntries(h.history);
      setTo(h.history.length - 1);
      setFrom(Math.max(0, h.history.length - 2));
    }, setError);
    return () => controller.abort();
  }, [name, version]);
  if (error) return <ErrorNotice error={error} title="The history could not be read" />;
  if (!entries) return <p class="muted">Loading…</p>;
  const pick = (label: string, value: number, onChange: (n: number) => void) => (
    <label class="field inline">
      <span>{label}</span>
      <select aria-label={`${label} revision`} value={String(value)} onChange={(e) => onChange(Number(e.currentTarget.value))}>
        {entries.map((e, i) => (
          <option key={i} value={String(i)}>
            {labelOf(e)}
          </option>
        ))}
      </select>
    </label>
  );
  const a = entries[from];
  const b = entries[to];
  const latest = entries[entries.length - 1];
  const current = latest && latest.change_type !== "deleted" ? latest.revision : null;
  return (
    <div class="history">
      <div class="table-wrap">
        <table class="table compact">
          <caption class="visually-hidden">Revisions, oldest first</caption>
          <thead>
            <tr>
              <th scope="col">Revision</th>
              <th scope="col">Change</th>
              <th scope="col">When</th>
              <th scope="col">By</th>
              <th scope="col">Compare</th>
              {props.canRollBack ? (
                <th scope="col">
                  <span class="visually-hidden">Roll back</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {entries.map((e, i) => (
              <tr key={i} data-revision={e.revision}>
                <td class="num">{e.revision}</td>
                <td>{changeOf(e)}</td>
                <td>{dateTime(e.timestamp)}</td>
                <td class="mono">{e.actor}</td>
                <td>
                  {i > 0 ? (
                    <button
                      type="button"
                      class="button ghost small"
                      onClick={() => {
                        setFrom(i - 1);
                        setTo(i);
                      }}
                    >
                      With the one before
                    </button>
                  ) : null}
                </td>
                {props.canRollBack ? (
                  <td>
                    {current !== null && e.revision !== current && e.new_config ? (
                      <button
                        type="button"
                        class="button small"
                        aria-label={`Roll back to revision ${e.revision}`}
                        title={`Roll back to revision ${e.revision}`}
                        onClick={() => setRollingBack(e.revision)}
                      >
                        Roll back
                      </button>
                    ) : null}
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div class="filters">
        {pick("From", from, setFrom)}
        {pick("To", to, setTo)}
      </div>
      {a && b ? (
        <DiffView
          before={textOf(a)}
          after={textOf(b)}
          beforeLabel={`Revision ${a.revision}`}
          afterLabel={`Revision ${b.revision}`}
        />
      ) : null}
      {rollingBack !== null && current !== null ? (
        <RollbackDialog
          name={name}
          current={current}
          target={rollingBack}
          onClose={() => setRollingBack(null)}
          onDone={(result) => {
            setRollingBack(null);
            props.onRolledBack(result);
          }}
        />
      ) : null}
    </div>
  );
}
