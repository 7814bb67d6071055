// A 422's details (`loc`, `msg`) placed by the fields of a form: each detail goes to the
// field whose path its location starts with; what no field claims is shown above the form.

import { ApiError, type ErrorDetail } from "../../api/http";

export interface Placed {
  /** The messages for the field at `path` ("model", "config.temperature", "tools"). */
  at: (path: string) => string[];
  /** Details that belong to none of the form's fields. */
  unplaced: ErrorDetail[];
  /** Whether `error` is a validation error with details. */
  validation: boolean;
}

/** The location of a detail as a dotted path, without the request's own prefix
 * (`["body"]` for /api/agents, `["body", "config"]` for /api/config). */
export function pathOf(detail: ErrorDetail, prefix: readonly string[]): string[] {
  const loc = (detail.loc ?? []).map(String);
  let start = 0;
  while (start < prefix.length && loc[start] === prefix[start]) start += 1;
  return loc.slice(start);
}

export function placeErrors(error: unknown, prefix: readonly string[], fields: readonly string[]): Placed {
  const details = error instanceof ApiError && error.status === 422 ? (error.body.details ?? []) : [];
  const byField = new Map<string, string[]>();
  const unplaced: ErrorDetail[] = [];
  for (const detail of details) {
    const path = pathOf(detail, prefix).join(".");
    // the longest field path that the location is, or lies under
    const field = [...fields]
      .sort((a, b) => b.length - a.length)
      .find((f) => path === f || path.startsWith(`${f}.`));
    if (field === undefined) {
      unplaced.push(detail);
      continue;
    }
    const rest = path.slice(field.length + 1);
    const text = `${rest ? `${rest}: ` : ""}${detail.msg ?? "invalid"}`;
    byField.set(field, [...(byField.get(field) ?? []), text]);
  }
  return { at: (path) => byField.get(path) ?? [], unplaced, validation: details.length > 0 };
}
