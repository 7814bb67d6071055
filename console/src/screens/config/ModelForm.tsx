// The model form: provider, model, endpoint and API key (masked: left empty, the stored
// key is kept), saved with PUT /api/config/{name}. The fields the form does not show (a
// scripted model's responses, timeouts …) are sent back as they were.

import { useState } from "preact/hooks";
import { putComponent } from "../../api/components";
import { placeErrors } from "./fieldErrors";
import { controlProps, Field, FormNotice } from "./FormParts";

export const MASK = "********";
const PROVIDERS = ["openai", "demo", "scripted"] as const;
const FIELDS = ["name", "description", "provider", "model", "base_url", "api_key", "temperature"] as const;

interface Draft {
  name: string;
  description: string;
  provider: string;
  model: string;
  base_url: string;
  api_key: string;
  temperature: string;
  removeKey: boolean;
}

function draftOf(model: Record<string, unknown> | null): Draft {
  const str = (key: string): string => {
    const value = model?.[key];
    return value === null || value === undefined ? "" : String(value);
  };
  return {
    name: str("name"),
    description: str("description"),
    provider: str("provider") || "openai",
    model: str("model"),
    base_url: str("base_url"),
    api_key: "",
    temperature: str("temperature"),
    removeKey: false,
  };
}

function configOf(draft: Draft, base: Record<string, unknown> | null): Record<string, unknown> {
  const stored = base?.["api_key"] === MASK;
  const temperature = draft.temperature.trim();
  const numeric = Number(temperature);
  const config: Record<string, unknown> = {
    ...(base ?? {}),
    type: "model",
    name: draft.name.trim(),
    description: draft.description,
    provider: draft.provider,
    model: draft.model.trim(),
    base_url: draft.base_url.trim() || null,
    temperature: temperature ? (Number.isNaN(numeric) ? temperature : numeric) : null,
  };
  if (draft.api_key) config["api_key"] = draft.api_key;
  else config["api_key"] = stored && !draft.removeKey ? MASK : null;
  return config;
}

export function ModelForm(props: {
  /** The stored model without its metadata, or null for a new one. */
  model: Record<string, unknown> | null;
  onSaved: (name: string, revision: number | null) => void;
}) {
  const creating = props.model === null;
  const [draft, setDraft] = useState<Draft>(() => draftOf(props.model));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const placed = placeErrors(error, ["body", "config"], FIELDS);
  const keyStored = props.model?.["api_key"] === MASK;
  const set = (change: Partial<Draft>): void => setDraft({ ...draft, ...change });
  const text = (name: "name" | "description" | "provider" | "model" | "base_url" | "api_key" | "temperature") => ({
    ...controlProps(placed, name),
    name,
    value: draft[name],
    onInput: (e: Event) => set({ [name]: (e.currentTarget as HTMLInputElement).value }),
  });

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const config = configOf(draft, props.model);
      const result = await putComponent(String(config["name"]), config);
      props.onSaved(String(config["name"]), result.revision);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="component-form" aria-label={creating ? "New model" : `Model ${draft.name}`} onSubmit={submit} noValidate>
      <FormNotice error={error} placed={placed} />
      <div class="field-row">
        {creating ? (
          <Field path="name" label="Name" placed={placed} hint="lower-case letters, digits, _ and -">
            <input {...text("name")} required autoComplete="off" />
          </Field>
        ) : null}
        <Field path="provider" label="Provider" placed={placed}>
          <select {...text("provider")} onChange={text("provider").onInput}>
            {PROVIDERS.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </Field>
        <Field path="model" label="Model" placed={placed} hint="the provider's model name">
          <input {...text("model")} required autoComplete="off" />
        </Field>
      </div>
      <Field path="description" label="Description" placed={placed}>
        <input {...text("description")} />
      </Field>
      <div class="field-row">
        <Field path="base_url" label="Base URL" placed={placed} hint="an OpenAI-compatible endpoint (openai only)">
          <input {...text("base_url")} type="url" placeholder="https://…/v1" autoComplete="off" />
        </Field>
        <Field
          path="api_key"
          label="API key"
          placed={placed}
          hint={keyStored ? "a key is stored: leave empty to keep it" : "none stored"}
        >
          <input
            {...text("api_key")}
            type="password"
            autoComplete="new-password"
            placeholder={keyStored ? MASK : ""}
          />
        </Field>
        <Field path="temperature" label="Temperature" placed={placed} hint="0–2; empty: the provider's">
          <input {...text("temperature")} inputMode="decimal" />
        </Field>
      </div>
      {keyStored ? (
        <label class="check">
          <input
            type="checkbox"
            name="remove_key"
            checked={draft.removeKey}
            disabled={Boolean(draft.api_key)}
            onChange={(e) => set({ removeKey: e.currentTarget.checked })}
          />
          Remove the stored key
        </label>
      ) : null}
      <div class="button-row">
        <button type="submit" class="button primary" disabled={busy}>
          {creating ? "Create model" : "Save"}
        </button>
      </div>
    </form>
  );
}
