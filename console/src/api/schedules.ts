// `/api/schedules` (agio/api/schemas/schedules.py): an agent, a message and a cron
// expression in a time zone; each firing starts one run as the schedule's creator.

import { get, post, request } from "./http";
import type { Page } from "./types";

export type MissedPolicy = "skip" | "run_once";

export interface Schedule {
  id: string;
  agent_id: string;
  agent_name: string;
  message: string;
  cron: string;
  timezone: string;
  session_id: string | null;
  enabled: boolean;
  missed: MissedPolicy;
  /** UTC; null while disabled. */
  next_run_at: string | null;
  last_run_at: string | null;
  last_run_id: string | null;
  /** Why the last firing started no run. */
  last_error: { type: string; message: string } | null;
  created_by: string;
  created_at: string;
  updated_at: string;
}

export interface ScheduleCreate {
  agent_id: string;
  message: string;
  cron: string;
  timezone: string;
  session_id?: string;
  enabled: boolean;
  missed: MissedPolicy;
}

export const listSchedules = (offset: number, limit: number, signal?: AbortSignal): Promise<Page<Schedule>> =>
  get("/api/schedules", { offset, limit }, signal);

export const createSchedule = (body: ScheduleCreate): Promise<Schedule> => post("/api/schedules", body);

/** A merge patch: only the fields given change. */
export const patchSchedule = (id: string, patch: Partial<ScheduleCreate>): Promise<Schedule> =>
  request("PATCH", `/api/schedules/${encodeURIComponent(id)}`, { body: patch });

export const deleteSchedule = (id: string): Promise<void> =>
  request("DELETE", `/api/schedules/${encodeURIComponent(id)}`);
