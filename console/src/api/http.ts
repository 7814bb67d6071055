// One way to call the API: same-origin fetch with the browser's credentials (the session
// cookie), JSON in and out, the CSRF token on state-changing requests, and every failure
// turned into an ApiError carrying the server's error envelope.

export interface ErrorDetail {
  loc?: (string | number)[];
  msg?: string;
  type?: string;
}

/** `{"error": {...}}`: the body of every error response (agio/api/schemas/common.py). */
export interface ErrorBody {
  type: string;
  message: string;
  path: string;
  request_id: string;
  details?: ErrorDetail[] | null;
}

export class ApiError extends Error {
  readonly status: number;
  readonly body: ErrorBody;

  constructor(status: number, body: ErrorBody) {
    super(body.message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }
}

const UNSAFE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const CSRF_HEADER = "X-CSRF-Token";

let csrfToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

/** The session's CSRF token (from `POST` or `GET /api/auth/session`), or null. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

/** Called when a request is refused with 401: the session has ended. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== "object" || value === null) return false;
  const body = value as Record<string, unknown>;
  return typeof body["type"] === "string" && typeof body["message"] === "string";
}

/** The ApiError of a response that is not ok (its envelope, or one made from the status). */
export async function errorOf(response: Response, path: string): Promise<ApiError> {
  let parsed: unknown = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  const envelope = (parsed as { error?: unknown } | null)?.error;
  if (isErrorBody(envelope)) return new ApiError(response.status, envelope);
  return new ApiError(response.status, {
    type: `HTTP${response.status}`,
    message: response.statusText || `The server answered ${response.status}`,
    path,
    request_id: response.headers.get("X-Request-ID") ?? "",
  });
}

function networkError(path: string, cause: unknown): ApiError {
  const aborted = cause instanceof DOMException && cause.name === "AbortError";
  return new ApiError(0, {
    type: aborted ? "Aborted" : "NetworkError",
    message: aborted ? "The request was cancelled" : "The server could not be reached",
    path,
    request_id: "",
  });
}

export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export interface SendOptions {
  body?: unknown;
  query?: Query;
  accept?: string;
  signal?: AbortSignal;
  /** Do not tell the listeners about a 401 (the sign-in calls themselves). */
  quiet401?: boolean;
}

/** The raw response of a request that succeeded (status 2xx); an ApiError otherwise. */
export async function send(method: string, path: string, options: SendOptions = {}): Promise<Response> {
  const url = withQuery(path, options.query);
  const headers = new Headers({ Accept: options.accept ?? "application/json" });
  const init: RequestInit = { method, headers, credentials: "same-origin" };
  if (options.body !== undefined) {
    headers.set("Content-Type", "application/json");
    init.body = JSON.stringify(options.body);
  }
  if (UNSAFE_METHODS.has(method) && csrfToken) headers.set(CSRF_HEADER, csrfToken);
  if (options.signal) init.signal = options.signal;
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (cause) {
    throw networkError(path, cause);
  }
  if (!response.ok) {
    const error = await errorOf(response, path);
    if (response.status === 401 && !options.quiet401) {
      for (const listener of unauthorizedListeners) listener();
    }
    throw error;
  }
  return response;
}

/** A JSON request; resolves to the decoded body (undefined for 204). */
export async function request<T>(method: string, path: string, options: SendOptions = {}): Promise<T> {
  const response = await send(method, path, options);
  if (response.status === 204) return undefined as T;
  return (await response.json()) as T;
}

export const get = <T>(path: string, query?: Query, signal?: AbortSignal): Promise<T> =>
  request<T>("GET", path, signal ? { query: query ?? {}, signal } : { query: query ?? {} });

export const post = <T>(path: string, body: unknown = {}): Promise<T> =>
  request<T>("POST", path, { body });
