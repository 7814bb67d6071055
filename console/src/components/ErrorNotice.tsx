// An API error as a user reads it: the server's message and kind, the details of a
// validation error, and the request id to quote when asking for help.

import { ApiError } from "../api/http";

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.body.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorNotice({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const body = error instanceof ApiError ? error.body : null;
  return (
    <div class="notice notice-error" role="alert">
      <p>
        <strong>{title ?? "Something went wrong"}:</strong> {messageOf(error)}
      </p>
      {body?.details?.length ? (
        <ul class="notice-details">
          {body.details.map((d, i) => (
            <li key={i}>
              {(d.loc ?? []).join(".")}: {d.msg}
            </li>
          ))}
        </ul>
      ) : null}
      {body ? (
        <p class="notice-meta">
          {body.type}
          {body.request_id ? ` · request ${body.request_id}` : ""}
        </p>
      ) : null}
    </div>
  );
}
