// Schedules (/schedules): the caller's schedules (an admin's: everyone's), newest first,
// read again every few seconds so that firings show up: agent, cron expression, time zone,
// enabled (with a toggle), the next firing, the last one (a link to its run, or why it
// started none); deleting one asks first. Below, the new-schedule form.

import { useEffect, useState } from "preact/hooks";
import { listAgents } from "../../api/agents";
import { deleteSchedule, listSchedules, patchSchedule, type Schedule } from "../../api/schedules";
import type { AgentSummary, Page } from "../../api/types";
import { Dialog } from "../../components/Dialog";
import { ErrorNotice } from "../../components/ErrorNotice";
import { dateTime, shorten } from "../../format";
import "../config/config.css";
import { usePolling } from "../runs/usePolling";
import { NewSchedule } from "./NewSchedule";
import "./schedules.css";

const PAGE = 25;
const POLL_MS = 5000;

export default function Schedules() {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<Page<Schedule> | null>(null);
  const [agents, setAgents] = useState<AgentSummary[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [changeError, setChangeError] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [asking, setAsking] = useState<Schedule | null>(null);
  const [deleteError, setDeleteError] = useState<unknown>(null);
  const [done, setDone] = useState("");
  const [version, setVersion] = useState(0);

  useEffect(() => {
    listAgents().then((p) => setAgents(p.items), setError);
  }, []);
  usePolling(
    async (signal) => {
      try {
        setPage(await listSchedules(offset, PAGE, signal));
        setError(null);
      } catch (e) {
        if (!signal.aborted) setError(e);
      }
    },
    POLL_MS,
    [offset, version],
  );
  const reload = (): void => setVersion((v) => v + 1);

  const toggle = async (schedule: Schedule): Promise<void> => {
    setBusy(schedule.id);
    try {
      await patchSchedule(schedule.id, { enabled: !schedule.enabled });
      setChangeError(null);
      reload();
    } catch (e) {
      setChangeError(e);
    } finally {
      setBusy(null);
    }
  };
  const remove = async (schedule: Schedule): Promise<void> => {
    setBusy(schedule.id);
    setDeleteError(null);
    try {
      await deleteSchedule(schedule.id);
      setAsking(null);
      setDone(`Deleted schedule ${schedule.id}.`);
      reload();
    } catch (e) {
      setDeleteError(e);
    } finally {
      setBusy(null);
    }
  };

  return (
    <section class="screen" aria-labelledby="schedules-title">
      <h1 id="schedules-title">Schedules</h1>
      <ErrorNotice error={error} title="Schedules could not be read" />
      <ErrorNotice error={changeError} title="The schedule could not be changed" />
      {done ? <p role="status">{done}</p> : null}
      {page ? (
        page.items.length ? (
          <div class="table-wrap">
            <table class="table schedules-table">
              <caption class="visually-hidden">Schedules, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Agent</th>
                  <th scope="col">Message</th>
                  <th scope="col">Cron</th>
                  <th scope="col">Time zone</th>
                  <th scope="col">Enabled</th>
                  <th scope="col">Next run</th>
                  <th scope="col">Last run</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {page.items.map((s) => (
                  <tr key={s.id} data-schedule-id={s.id}>
                    <td>
                      <a href={`/config/${encodeURIComponent(s.agent_name)}`}>{s.agent_name}</a>
                    </td>
                    <td class="schedule-message" title={s.message}>
                      {shorten(s.message, 80)}
                    </td>
                    <td>
                      <code>{s.cron}</code>
                    </td>
                    <td>{s.timezone}</td>
                    <td>
                      <span class="schedule-state" data-enabled={String(s.enabled)}>
                        {s.enabled ? "enabled" : "disabled"}
                      </span>{" "}
                      <button
                        type="button"
                        class="button small"
                        disabled={busy === s.id}
                        onClick={() => void toggle(s)}
                      >
                        {s.enabled ? "Disable" : "Enable"}
                      </button>
                    </td>
                    <td class="schedule-next" title={s.next_run_at ?? ""}>
                      {s.next_run_at ? dateTime(s.next_run_at) : "–"}
                    </td>
                    <td class="schedule-last">
                      <LastRun schedule={s} />
                    </td>
                    <td>
                      <button
                        type="button"
                        class="button small danger"
                        onClick={() => {
                          setDeleteError(null);
                          setAsking(s);
                        }}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p class="muted empty">No schedules yet.</p>
        )
      ) : (
        <p class="muted">Loading…</p>
      )}
      {page && (page.offset > 0 || page.has_more) ? (
        <nav class="pager" aria-label="Pages">
          <button type="button" class="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
            Newer
          </button>
          <span class="muted">
            {offset + 1}–{offset + page.items.length} of {page.total}
          </span>
          <button type="button" class="button" disabled={!page.has_more} onClick={() => setOffset(offset + PAGE)}>
            Older
          </button>
        </nav>
      ) : null}
      <NewSchedule
        agents={agents}
        created={(schedule) => {
          setDone(`Created schedule ${schedule.id}.`);
          setOffset(0);
          reload();
        }}
      />
      <Dialog title="Delete this schedule?" open={asking !== null} onClose={() => setAsking(null)}>
        {asking ? (
          <div class="dialog-body">
            <p>
              The schedule <code>{asking.id}</code> (<code>{asking.cron}</code>, {asking.timezone}) of{" "}
              {asking.agent_name} stops firing and is deleted. The runs it started are kept.
            </p>
            <ErrorNotice error={deleteError} title="Not deleted" />
            <div class="button-row end">
              <button type="button" class="button" onClick={() => setAsking(null)}>
                Keep it
              </button>
              <button
                type="button"
                class="button primary danger-fill"
                disabled={busy === asking.id}
                onClick={() => void remove(asking)}
              >
                Delete the schedule
              </button>
            </div>
          </div>
        ) : null}
      </Dialog>
    </section>
  );
}

function LastRun({ schedule }: { schedule: Schedule }) {
  if (schedule.last_error) {
    return (
      <span class="schedule-error" title={schedule.last_error.message}>
        {dateTime(schedule.last_run_at)}: not run ({schedule.last_error.type})
      </span>
    );
  }
  if (schedule.last_run_id) {
    return (
      <a href={`/runs/${encodeURIComponent(schedule.last_run_id)}`} title={schedule.last_run_id}>
        {dateTime(schedule.last_run_at)}
      </a>
    );
  }
  return <span class="muted">never</span>;
}
