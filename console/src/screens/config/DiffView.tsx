// Two texts side by side, line by line (jsdiff's diffLines): removed lines on the left,
// added lines on the right, a changed block paired row by row.

import { diffLines } from "diff";

interface Side {
  no: number | null;
  text: string;
  kind: "same" | "del" | "add" | "none";
}

export interface DiffRow {
  left: Side;
  right: Side;
}

const EMPTY: Side = { no: null, text: "", kind: "none" };

function linesOf(value: string): string[] {
  const lines = value.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

export function diffRows(before: string, after: string): DiffRow[] {
  const rows: DiffRow[] = [];
  let left = 1;
  let right = 1;
  let removed: string[] = [];
  const flush = (added: string[]): void => {
    for (let i = 0; i < Math.max(removed.length, added.length); i += 1) {
      const del = removed[i];
      const add = added[i];
      rows.push({
        left: del === undefined ? EMPTY : { no: left++, text: del, kind: "del" },
        right: add === undefined ? EMPTY : { no: right++, text: add, kind: "add" },
      });
    }
    removed = [];
  };
  for (const change of diffLines(before, after)) {
    const lines = linesOf(change.value);
    if (change.removed) {
      removed.push(...lines);
    } else if (change.added) {
      flush(lines);
    } else {
      flush([]);
      for (const line of lines) {
        rows.push({ left: { no: left++, text: line, kind: "same" }, right: { no: right++, text: line, kind: "same" } });
      }
    }
  }
  flush([]);
  return rows;
}

export function DiffView(props: { before: string; after: string; beforeLabel: string; afterLabel: string }) {
  const rows = diffRows(props.before, props.after);
  const added = rows.filter((r) => r.right.kind === "add").length;
  const removed = rows.filter((r) => r.left.kind === "del").length;
  return (
    <div class="diff-wrap">
      <p class="muted small" aria-live="polite">
        {added || removed ? `${added} line${added === 1 ? "" : "s"} added, ${removed} removed` : "No differences"}
      </p>
      <div class="table-wrap">
        <table class="diff">
          <caption class="visually-hidden">
            {props.beforeLabel} beside {props.afterLabel}
          </caption>
          <colgroup>
            <col class="ln-col" />
            <col />
            <col class="ln-col" />
            <col />
          </colgroup>
          <thead>
            <tr>
              <th scope="col" colSpan={2}>
                {props.beforeLabel}
              </th>
              <th scope="col" colSpan={2}>
                {props.afterLabel}
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r, i) => (
              <tr key={i}>
                <td class="ln">{r.left.no ?? ""}</td>
                <td class={`code ${r.left.kind}`}>{r.left.kind === "del" ? <del>{r.left.text}</del> : r.left.text}</td>
                <td class="ln">{r.right.no ?? ""}</td>
                <td class={`code ${r.right.kind}`}>{r.right.kind === "add" ? <ins>{r.right.text}</ins> : r.right.text}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
