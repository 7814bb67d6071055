// The confirm step of a rollback: what would change (GET /api/config/{name}/diff from the
// current revision to the chosen one), then POST /api/config/{name}/rollback. A refusal
// (a configuration that no longer validates, a secret that must be given again, a
// concurrent change) is shown in the dialog.

import { useEffect, useState } from "preact/hooks";
import { configDiff, rollbackComponent, type ConfigChange, type RollbackResult } from "../../api/components";
import { Dialog } from "../../components/Dialog";
import { ErrorNotice } from "../../components/ErrorNotice";

function shown(value: unknown): string {
  if (value === null || value === undefined) return "—"; // absent
  return typeof value === "string" && value !== "" ? value : JSON.stringify(value);
}

export function RollbackDialog(props: {
  name: string;
  current: number;
  target: number;
  onClose: () => void;
  onDone: (result: RollbackResult) => void;
}) {
  const { name, current, target } = props;
  const [changes, setChanges] = useState<ConfigChange[] | null>(null);
  const [diffError, setDiffError] = useState<unknown>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const controller = new AbortController();
    configDiff(name, current, target, controller.signal).then((d) => setChanges(d.changes), setDiffError);
    return () => controller.abort();
  }, [name, current, target]);
  const confirm = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      props.onDone(await rollbackComponent(name, target));
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Roll back to revision ${target}?`} open onClose={props.onClose}>
      <div class="dialog-body rollback">
        <p class="muted">
          A new revision makes the configuration of revision {target} current again; runs started after it use it.
          Secrets stay as they are now.
        </p>
        <ErrorNotice error={diffError} title="The changes could not be read" />
        {changes === null && !diffError ? <p class="muted">Loading…</p> : null}
        {changes && changes.length === 0 ? <p>Revision {target} is the same as the current one.</p> : null}
        {changes && changes.length > 0 ? (
          <div class="table-wrap">
            <table class="table compact">
              <caption>
                From revision {current} to revision {target}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Field</th>
                  <th scope="col">Now</th>
                  <th scope="col">After</th>
                </tr>
              </thead>
              <tbody>
                {changes.map((c) => (
                  <tr key={c.path.join(".")} data-path={c.path.join(".")}>
                    <td class="mono">{c.path.join(".")}</td>
                    <td class="mono">{shown(c.from)}</td>
                    <td class="mono">{shown(c.to)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        <ErrorNotice error={error} title="Not rolled back" />
        <div class="button-row end">
          <button type="button" class="button ghost" onClick={props.onClose}>
            Cancel
          </button>
          <button type="button" class="button primary" disabled={busy} onClick={() => void confirm()}>
            Roll back
          </button>
        </div>
      </div>
    </Dialog>
  );
}
