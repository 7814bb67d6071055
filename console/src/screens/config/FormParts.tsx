// Pieces of the component forms: a labelled field with its server messages in place, and
// the notice above a form (the error's message, and what no field could show).

import type { ComponentChildren } from "preact";
import { ApiError } from "../../api/http";
import { ErrorNotice } from "../../components/ErrorNotice";
import type { Placed } from "./fieldErrors";

export function fieldId(path: string): string {
  return `field-${path.replace(/[^a-z0-9]+/gi, "-")}`;
}

/** Props for the control of the field at `path`: its id, and its invalid state. */
export function controlProps(placed: Placed, path: string) {
  const invalid = placed.at(path).length > 0;
  return {
    id: fieldId(path),
    "aria-invalid": invalid ? ("true" as const) : undefined,
    "aria-describedby": invalid ? `${fieldId(path)}-error` : undefined,
  };
}

export function Field(props: {
  path: string;
  label: string;
  placed: Placed;
  hint?: string;
  children: ComponentChildren;
}) {
  const messages = props.placed.at(props.path);
  return (
    <div class={messages.length ? "field has-error" : "field"} data-field={props.path}>
      <label for={fieldId(props.path)}>{props.label}</label>
      {props.children}
      {props.hint ? <small class="muted">{props.hint}</small> : null}
      {messages.length ? (
        <p class="field-error" id={`${fieldId(props.path)}-error`} role="alert">
          {messages.join("; ")}
        </p>
      ) : null}
    </div>
  );
}

/** The error above a form: for a 422 whose details are shown by the fields, a short line. */
export function FormNotice({ error, placed }: { error: unknown; placed: Placed }) {
  if (!error) return null;
  if (error instanceof ApiError && placed.validation && placed.unplaced.length === 0) {
    return (
      <div class="notice notice-error" role="alert">
        <p>
          <strong>Not saved:</strong> the server found problems, shown by the fields below.
        </p>
        <p class="notice-meta">
          {error.body.type}
          {error.body.request_id ? ` · request ${error.body.request_id}` : ""}
        </p>
      </div>
    );
  }
  return <ErrorNotice error={error} title="Not saved" />;
}
