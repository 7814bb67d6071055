// The new-schedule form: agent, message, cron expression, time zone, missed firings,
// enabled, and an optional session to continue. The server checks it all; a 422's
// messages are shown by the fields they name (an invalid cron expression by the cron
// field, an unknown time zone by the time zone field).

import { useMemo, useState } from "preact/hooks";
import { createSchedule, type MissedPolicy, type Schedule } from "../../api/schedules";
import type { AgentSummary } from "../../api/types";
import { controlProps, Field, FormNotice } from "../config/FormParts";
import { placeErrors } from "../config/fieldErrors";

const FIELDS = ["agent_id", "message", "cron", "timezone", "session_id", "enabled", "missed"] as const;

function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

function knownZones(): string[] {
  const intl = Intl as unknown as { supportedValuesOf?: (key: string) => string[] };
  try {
    return intl.supportedValuesOf ? intl.supportedValuesOf("timeZone") : [];
  } catch {
    return [];
  }
}

export function NewSchedule(props: { agents: AgentSummary[]; created: (schedule: Schedule) => void }) {
  const [agent, setAgent] = useState("");
  const [message, setMessage] = useState("");
  const [cron, setCron] = useState("0 9 * * 1-5");
  const [timezone, setTimezone] = useState(browserZone);
  const [session, setSession] = useState("");
  const [missed, setMissed] = useState<MissedPolicy>("skip");
  const [enabled, setEnabled] = useState(true);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const zones = useMemo(knownZones, []);
  const placed = placeErrors(error, ["body"], FIELDS);
  const chosen = agent || props.agents[0]?.name || "";

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      const schedule = await createSchedule({
        agent_id: chosen,
        message,
        cron,
        timezone,
        enabled,
        missed,
        ...(session.trim() ? { session_id: session.trim() } : {}),
      });
      setError(null);
      setMessage("");
      setSession("");
      props.created(schedule);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="panel component-form" aria-labelledby="new-schedule-title" onSubmit={(e) => void submit(e)}>
      <h2 id="new-schedule-title">New schedule</h2>
      <FormNotice error={error} placed={placed} />
      <div class="field-row">
        <Field path="agent_id" label="Agent" placed={placed}>
          <select {...controlProps(placed, "agent_id")} value={chosen} onChange={(e) => setAgent(e.currentTarget.value)}>
            {props.agents.map((a) => (
              <option key={a.id} value={a.name}>
                {a.name}
              </option>
            ))}
          </select>
        </Field>
        <Field
          path="cron"
          label="Cron expression"
          placed={placed}
          hint="minute hour day-of-month month day-of-week, e.g. 0 9 * * 1-5 (09:00 on weekdays)"
        >
          <input
            {...controlProps(placed, "cron")}
            class="mono"
            required
            autocomplete="off"
            spellcheck={false}
            value={cron}
            onInput={(e) => setCron(e.currentTarget.value)}
          />
        </Field>
        <Field path="timezone" label="Time zone" placed={placed} hint="the cron expression is read in it">
          <input
            {...controlProps(placed, "timezone")}
            required
            autocomplete="off"
            list="schedule-zones"
            value={timezone}
            onInput={(e) => setTimezone(e.currentTarget.value)}
          />
        </Field>
      </div>
      <datalist id="schedule-zones">
        {zones.map((z) => (
          <option key={z} value={z} />
        ))}
      </datalist>
      <Field path="message" label="Message" placed={placed} hint="what each firing says to the agent">
        <textarea
          {...controlProps(placed, "message")}
          required
          rows={3}
          value={message}
          onInput={(e) => setMessage(e.currentTarget.value)}
        />
      </Field>
      <div class="field-row">
        <Field path="missed" label="Missed firings" placed={placed} hint="those due while the server was down">
          <select
            {...controlProps(placed, "missed")}
            value={missed}
            onChange={(e) => setMissed(e.currentTarget.value as MissedPolicy)}
          >
            <option value="skip">skip them</option>
            <option value="run_once">run once for all of them</option>
          </select>
        </Field>
        <Field path="session_id" label="Session (optional)" placed={placed} hint="every firing continues it">
          <input
            {...controlProps(placed, "session_id")}
            class="mono"
            autocomplete="off"
            placeholder="ses_…"
            value={session}
            onInput={(e) => setSession(e.currentTarget.value)}
          />
        </Field>
        <label class="check enabled-check">
          <input type="checkbox" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
          <span>Enabled</span>
        </label>
      </div>
      <div class="button-row">
        <button type="submit" class="button primary" disabled={busy || !chosen}>
          Create schedule
        </button>
      </div>
    </form>
  );
}
