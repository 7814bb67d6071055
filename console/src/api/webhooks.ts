// `/api/webhooks` (agio/api/schemas/webhooks.py): webhook subscriptions, whose signing
// secret is in the create response only, and their deliveries.

import { get, post, request } from "./http";
import type { Page } from "./types";

export const WEBHOOK_EVENTS = ["run.completed", "run.failed", "run.cancelled", "approval.requested"] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  agent_id: string | null;
  user_id: string;
  scope: "own_runs" | "all_runs";
  created_at: string;
}

export interface WebhookCreated extends Webhook {
  /** The signing secret: in this response only. */
  secret: string;
}

export interface WebhookCreate {
  url: string;
  events: WebhookEvent[];
  agent_id?: string;
}

export type DeliveryStatus = "pending" | "delivered" | "failed";

export interface Delivery {
  id: string;
  webhook_id: string | null;
  event_type: string;
  run_id: string;
  status: DeliveryStatus;
  attempts: number;
  last_response_code: number | null;
  last_error: string | null;
  next_retry_at: string | null;
  created_at: string;
  delivered_at: string | null;
}

export const listWebhooks = (offset: number, limit: number, signal?: AbortSignal): Promise<Page<Webhook>> =>
  get("/api/webhooks", { offset, limit }, signal);

export const createWebhook = (body: WebhookCreate): Promise<WebhookCreated> => post("/api/webhooks", body);

export const deleteWebhook = (id: string): Promise<void> =>
  request("DELETE", `/api/webhooks/${encodeURIComponent(id)}`);

export const listDeliveries = (id: string, offset: number, limit: number, signal?: AbortSignal): Promise<Page<Delivery>> =>
  get(`/api/webhooks/${encodeURIComponent(id)}/deliveries`, { offset, limit }, signal);
