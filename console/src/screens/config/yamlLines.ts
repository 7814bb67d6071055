// YAML text ↔ a component, with line numbers: parse errors at their line, and the line of
// the key a server error's location names (`model`, `config.temperature`, `tools.1`).

import { isMap, isScalar, isSeq, LineCounter, parseDocument, stringify, type Document, type Node } from "yaml";

export interface LineMessage {
  /** 1-based; 0: about the whole text. */
  line: number;
  message: string;
}

export interface Parsed {
  doc: Document;
  lines: LineCounter;
  /** The parsed value when the text is a mapping and has no syntax errors. */
  value: Record<string, unknown> | null;
  problems: LineMessage[];
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0 });
}

export function parseYaml(text: string): Parsed {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const problems: LineMessage[] = doc.errors.map((e) => ({
    line: e.linePos?.[0].line ?? 0,
    message: e.message.split("\n", 1)[0] ?? e.message,
  }));
  if (problems.length) return { doc, lines, value: null, problems };
  const value: unknown = doc.toJS();
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { doc, lines, value: null, problems: [{ line: 1, message: "a component is a mapping of fields (`type: …`, `name: …`)" }] };
  }
  return { doc, lines, value: value as Record<string, unknown>, problems: [] };
}

function lineAt(node: { range?: [number, number, number] | null } | null | undefined, lines: LineCounter): number | null {
  const start = node?.range?.[0];
  return start === undefined ? null : lines.linePos(start).line;
}

/** The line of the key (or item) at `path`, or of the nearest of its ancestors that is
 * in the text (a missing field: the mapping that lacks it); 1 for the top level. */
export function lineOf(parsed: Parsed, path: readonly string[]): number {
  let node: Node | null = parsed.doc.contents;
  let line = 1;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === part);
      if (!pair) break;
      line = lineAt(pair.key as Node, parsed.lines) ?? line;
      node = (pair.value as Node | null) ?? null;
    } else if (isSeq(node)) {
      const item = node.items[Number(part)];
      if (item === undefined || !/^\d+$/.test(part)) break;
      line = lineAt(item as Node, parsed.lines) ?? line;
      node = item as Node;
    } else {
      break;
    }
  }
  return line;
}
