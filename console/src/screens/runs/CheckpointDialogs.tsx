// Restore (run again from a checkpoint) and fork (a new run branching from it, with
// changes): POST /api/checkpoints/{id}/restore and /fork. Both land on the run that
// results.

import { useEffect, useState } from "preact/hooks";
import { useLocation } from "preact-iso";
import { listModels } from "../../api/agents";
import { fork, restore } from "../../api/runs";
import type { CheckpointSummary, ForkModifications, RestoreRequest, RunDetail } from "../../api/types";
import { Dialog } from "../../components/Dialog";
import { ErrorNotice } from "../../components/ErrorNotice";

interface Props {
  run: RunDetail;
  checkpoint: CheckpointSummary;
  onClose: () => void;
  onDone: () => void;
}

export function RestoreDialog({ run, checkpoint, onClose, onDone }: Props) {
  const { route } = useLocation();
  const [asNewRun, setAsNewRun] = useState(true);
  const [query, setQuery] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const inPlaceAllowed = run.status === "paused";
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body: RestoreRequest = { create_new_run: asNewRun || !inPlaceAllowed, modifications: {} };
    if (query.trim()) body.modifications.modified_query = query.trim();
    try {
      const answer = await restore(checkpoint.id, body);
      onDone();
      route(`/runs/${answer.new_run_id}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Restore from step ${checkpoint.step_num}`} open onClose={onClose}>
      <form class="dialog-body" onSubmit={submit}>
        <p class="muted">
          Runs again from checkpoint <code>{checkpoint.id}</code> ({checkpoint.kind}, {checkpoint.message_count} messages).
        </p>
        <label class="check">
          <input
            type="checkbox"
            name="create_new_run"
            checked={asNewRun || !inPlaceAllowed}
            disabled={!inPlaceAllowed}
            onChange={(e) => setAsNewRun(e.currentTarget.checked)}
          />
          As a new run {inPlaceAllowed ? "(unticked: this paused run continues from the checkpoint)" : ""}
        </label>
        <label class="field">
          <span>Ask instead (optional)</span>
          <textarea
            name="modified_query"
            rows={3}
            value={query}
            placeholder="Replaces the checkpoint's last user message"
            onInput={(e) => setQuery(e.currentTarget.value)}
          />
        </label>
        <ErrorNotice error={error} title="Not restored" />
        <div class="button-row end">
          <button type="button" class="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button primary" disabled={busy}>
            Restore
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function ForkDialog({ run, checkpoint, onClose, onDone }: Props) {
  const { route } = useLocation();
  const [models, setModels] = useState<string[]>([]);
  const [description, setDescription] = useState("");
  const [query, setQuery] = useState("");
  const [systemPrompt, setSystemPrompt] = useState("");
  const [model, setModel] = useState("");
  const [temperature, setTemperature] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const agent = (run.agent_config["agent"] ?? {}) as { model?: string; system_prompt?: string };
  useEffect(() => {
    listModels().then(setModels, setError);
  }, []);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const modifications: ForkModifications = {};
    if (query.trim()) modifications.modified_query = query.trim();
    if (systemPrompt.trim()) modifications.system_prompt = systemPrompt;
    if (model) modifications.model = model;
    if (temperature.trim() !== "") modifications.temperature = Number(temperature);
    try {
      const answer = await fork(checkpoint.id, { description: description.trim(), modifications });
      onDone();
      route(`/runs/${answer.new_run_id}`);
    } catch (err) {
      setError(err);
      setBusy(false);
    }
  };
  return (
    <Dialog title={`Fork from step ${checkpoint.step_num}`} open onClose={onClose}>
      <form class="dialog-body" onSubmit={submit}>
        <p class="muted">
          A new run branches from checkpoint <code>{checkpoint.id}</code>; this run is not changed. Empty fields keep
          what the run had.
        </p>
        <label class="field">
          <span>Description</span>
          <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>Ask instead</span>
          <textarea name="modified_query" rows={2} value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        </label>
        <label class="field">
          <span>System prompt</span>
          <textarea
            name="system_prompt"
            rows={3}
            value={systemPrompt}
            placeholder={agent.system_prompt ?? ""}
            onInput={(e) => setSystemPrompt(e.currentTarget.value)}
          />
        </label>
        <div class="field-row">
          <label class="field">
            <span>Model</span>
            <select name="model" value={model} onChange={(e) => setModel(e.currentTarget.value)}>
              <option value="">{agent.model ? `${agent.model} (unchanged)` : "(unchanged)"}</option>
              {models.map((m) => (
                <option key={m} value={m}>
                  {m}
                </option>
              ))}
            </select>
          </label>
          <label class="field">
            <span>Temperature</span>
            <input
              name="temperature"
              type="number"
              min={0}
              max={2}
              step={0.1}
              value={temperature}
              placeholder="unchanged"
              onInput={(e) => setTemperature(e.currentTarget.value)}
            />
          </label>
        </div>
        <ErrorNotice error={error} title="Not forked" />
        <div class="button-row end">
          <button type="button" class="button ghost" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="button primary" disabled={busy}>
            Fork
          </button>
        </div>
      </form>
    </Dialog>
  );
}
