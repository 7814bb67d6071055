// A component as YAML: edit it, check it (validate_only) or save it with
// PUT /api/config/{name}. Syntax errors, and the server's 422 details, are shown at the
// line they are about.

import { useState } from "preact/hooks";
import { putComponent } from "../../api/components";
import { ApiError } from "../../api/http";
import { ErrorNotice } from "../../components/ErrorNotice";
import { pathOf } from "./fieldErrors";
import { YamlEditor } from "./YamlEditor";
import { lineOf, parseYaml, type LineMessage } from "./yamlLines";

type Outcome = { kind: "problems"; error: ApiError | null } | { kind: "error"; error: unknown } | { kind: "ok"; text: string };

export function YamlPanel(props: {
  initial: string;
  /** The component's name when editing one; a new one is named by its `name:`. */
  name: string | null;
  onSaved: (name: string, revision: number | null) => void;
}) {
  const [text, setText] = useState(props.initial);
  const [problems, setProblems] = useState<LineMessage[]>([]);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const [busy, setBusy] = useState(false);

  const send = async (validateOnly: boolean): Promise<void> => {
    const parsed = parseYaml(text);
    setOutcome(null);
    if (!parsed.value) {
      setProblems(parsed.problems);
      setOutcome({ kind: "problems", error: null });
      return;
    }
    const name = props.name ?? parsed.value["name"];
    if (typeof name !== "string" || !name) {
      setProblems([{ line: lineOf(parsed, ["name"]), message: "name: a new component needs a name" }]);
      setOutcome({ kind: "problems", error: null });
      return;
    }
    setBusy(true);
    setProblems([]);
    try {
      const result = await putComponent(name, parsed.value, validateOnly);
      setOutcome({ kind: "ok", text: result.message });
      if (!validateOnly) props.onSaved(name, result.revision);
    } catch (error) {
      const details = error instanceof ApiError && error.status === 422 ? (error.body.details ?? []) : [];
      if (details.length && error instanceof ApiError) {
        setProblems(
          details.map((d) => {
            const path = pathOf(d, ["body", "config"]);
            return { line: lineOf(parsed, path), message: `${path.join(".") || "(component)"}: ${d.msg ?? "invalid"}` };
          }),
        );
        setOutcome({ kind: "problems", error });
      } else {
        setOutcome({ kind: "error", error });
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="yaml-panel"
      aria-label="YAML"
      onSubmit={(e) => {
        e.preventDefault();
        void send(false);
      }}
    >
      {outcome?.kind === "error" ? <ErrorNotice error={outcome.error} title="Not saved" /> : null}
      {outcome?.kind === "problems" ? (
        <div class="notice notice-error" role="alert">
          <p>
            <strong>{outcome.error ? "Refused by the server" : "Not sent"}:</strong>{" "}
            {problems.length === 1 ? "one problem" : `${problems.length} problems`}, marked at {problems.length === 1 ? "its line" : "their lines"}.
          </p>
          {outcome.error ? (
            <p class="notice-meta">
              {outcome.error.body.type}
              {outcome.error.body.request_id ? ` · request ${outcome.error.body.request_id}` : ""}
            </p>
          ) : null}
        </div>
      ) : null}
      {outcome?.kind === "ok" ? (
        <p class="notice notice-done" role="status">
          {outcome.text}
        </p>
      ) : null}
      <YamlEditor value={text} onInput={setText} problems={problems} label="Component YAML" />
      <p class="muted small">Secrets read as {"********"}; sent back unchanged, the stored value is kept.</p>
      <div class="button-row">
        <button type="button" class="button" disabled={busy} onClick={() => void send(true)}>
          Check
        </button>
        <button type="submit" class="button primary" disabled={busy}>
          {props.name ? "Save" : "Create"}
        </button>
      </div>
    </form>
  );
}
