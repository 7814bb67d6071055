// A YAML text area with line numbers; lines with a problem are marked in the gutter and
// listed under it (choosing one puts the cursor on that line).

import { useRef } from "preact/hooks";
import type { LineMessage } from "./yamlLines";

export function YamlEditor(props: {
  value: string;
  onInput: (value: string) => void;
  problems: LineMessage[];
  label: string;
}) {
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLPreElement>(null);
  const count = Math.max(1, props.value.split("\n").length);
  const bad = new Set(props.problems.map((p) => p.line));
  const numbers = Array.from({ length: count }, (_, i) => i + 1);
  const goTo = (line: number): void => {
    const el = area.current;
    if (!el) return;
    const lines = el.value.split("\n");
    const start = lines.slice(0, Math.max(0, line - 1)).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + (lines[line - 1]?.length ?? 0));
    el.scrollTop = Math.max(0, (line - 3) * parseFloat(getComputedStyle(el).lineHeight || "20"));
  };
  return (
    <div class="yaml-editor">
      <div class="yaml-frame">
        <pre class="yaml-gutter" ref={gutter} aria-hidden="true">
          {numbers.map((n) => (
            <span key={n} class={bad.has(n) ? "bad" : undefined} data-line={n}>
              {n}
              {"\n"}
            </span>
          ))}
        </pre>
        <textarea
          ref={area}
          class="yaml-text"
          aria-label={props.label}
          aria-invalid={props.problems.length ? "true" : undefined}
          spellcheck={false}
          wrap="off"
          rows={Math.min(28, Math.max(10, count + 1))}
          value={props.value}
          onInput={(e) => props.onInput(e.currentTarget.value)}
          onScroll={(e) => {
            if (gutter.current) gutter.current.scrollTop = e.currentTarget.scrollTop;
          }}
        />
      </div>
      {props.problems.length ? (
        <ul class="yaml-problems" aria-label="Problems">
          {props.problems.map((p, i) => (
            <li key={i} data-line={p.line}>
              {p.line ? (
                <button type="button" class="button ghost small" onClick={() => goTo(p.line)}>
                  Line {p.line}
                </button>
              ) : null}
              <span class="error-text">{p.message}</span>
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
