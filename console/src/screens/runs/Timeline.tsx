// The run's event log: one row per event, virtualised (only the rows in view are in the
// page); choosing a row shows its data below.

import { useState } from "preact/hooks";
import { summary } from "../../api/events";
import type { RunEvent } from "../../api/types";
import { JsonView } from "../../components/JsonView";
import { VirtualList } from "../../components/VirtualList";
import { clock } from "../../format";

const ROW = 32;

export function Timeline({ events, live }: { events: RunEvent[]; live: boolean }) {
  const [selected, setSelected] = useState<number | null>(null);
  const chosen = selected === null ? undefined : events.find((e) => e.seq === selected);
  return (
    <div class="timeline">
      <p class="muted small">
        {events.length} events{live ? " · following live" : ""}
      </p>
      <VirtualList
        items={events}
        rowHeight={ROW}
        height={384}
        label="Events"
        stickToEnd={live}
        renderRow={(event) => (
          <button
            type="button"
            class={`event-row event-${event.type}${event.seq === selected ? " selected" : ""}`}
            aria-pressed={event.seq === selected}
            onClick={() => setSelected(event.seq === selected ? null : event.seq)}
            data-seq={event.seq}
          >
            <span class="seq">{event.seq}</span>
            <span class="time">{clock(event.timestamp)}</span>
            <span class="type">{event.type}</span>
            <span class="what">{summary(event)}</span>
          </button>
        )}
      />
      {chosen ? (
        <div class="event-detail">
          <h3>
            Event {chosen.seq}: {chosen.type}
          </h3>
          <JsonView value={chosen.data} label={`Data of event ${chosen.seq}`} />
        </div>
      ) : null}
    </div>
  );
}
