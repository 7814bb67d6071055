// A small hand-drawn SVG chart of one or more series over the same buckets: bars (stacked
// when there are several series) or lines (a gap where a bucket has no value), with a
// legend and the values as a table for screen readers (the SVG itself is one labelled image).

export interface Series {
  name: string;
  /** One value per bucket; null: nothing to show there (a line breaks). */
  values: (number | null)[];
}

const W = 600;
const H = 160;
const PAD = { left: 44, right: 8, top: 10, bottom: 22 };

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (max <= step * power) return step * power;
  return 10 * power;
}

/** The runs of consecutive non-null values, as polyline point lists. */
function segments(values: (number | null)[], x: (i: number) => number, y: (v: number) => number): string[] {
  const out: string[] = [];
  let current: string[] = [];
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length) out.push(current.join(" "));
      current = [];
    } else current.push(`${x(i)},${y(v)}`);
  });
  if (current.length) out.push(current.join(" "));
  return out;
}

export function Chart(props: {
  title: string;
  kind: "bar" | "line";
  labels: string[];
  series: Series[];
  format?: (n: number) => string;
  /** Whether the values add up to something (runs do; durations do not). */
  summed?: boolean;
}) {
  const { labels, series, kind, title } = props;
  const format = props.format ?? ((n: number) => n.toLocaleString());
  const stacked = kind === "bar";
  const heights = labels.map((_, i) =>
    stacked
      ? series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0)
      : Math.max(0, ...series.map((s) => s.values[i] ?? 0)),
  );
  const top = niceMax(Math.max(0, ...heights));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, labels.length);
  const x = (i: number): number => PAD.left + slot * i + slot / 2;
  const y = (v: number): number => PAD.top + innerH - (v / top) * innerH;
  const summed = props.summed !== false;
  const total = series.reduce((sum, s) => sum + s.values.reduce<number>((a, v) => a + (v ?? 0), 0), 0);
  const summary = summed ? `total ${format(total)}` : `${labels.length} buckets`;
  const every = Math.max(1, Math.ceil(labels.length / 6));
  const named = series.length > 1;
  return (
    <figure class="chart" data-chart={title}>
      <figcaption>
        {title} <span class="muted small">({summary})</span>
      </figcaption>
      {named ? (
        <ul class="chart-legend" aria-hidden="true">
          {series.map((s, k) => (
            <li key={s.name} class={`series-${k}`}>
              {s.name}
            </li>
          ))}
        </ul>
      ) : null}
      <svg
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`${title}${named ? ` (${series.map((s) => s.name).join(", ")})` : ""}: ${labels.length} buckets${summed ? `, ${summary}` : ""}`}
      >
        <line class="chart-axis" x1={PAD.left} y1={PAD.top + innerH} x2={W - PAD.right} y2={PAD.top + innerH} />
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line class="chart-grid" x1={PAD.left} x2={W - PAD.right} y1={y(top * f)} y2={y(top * f)} />
            <text class="chart-tick" x={PAD.left - 4} y={y(top * f) + 4} text-anchor="end">
              {format(top * f)}
            </text>
          </g>
        ))}
        {kind === "bar"
          ? labels.map((label, i) => {
              let base = 0;
              return series.map((s, k) => {
                const v = s.values[i] ?? 0;
                const from = base;
                base += v;
                return v > 0 ? (
                  <rect
                    key={`${label}-${s.name}`}
                    class={`chart-bar series-${k}`}
                    x={x(i) - Math.max(1, slot * 0.35)}
                    width={Math.max(2, slot * 0.7)}
                    y={y(from + v)}
                    height={y(from) - y(from + v)}
                  >
                    <title>{`${label}${named ? ` ${s.name}` : ""}: ${format(v)}`}</title>
                  </rect>
                ) : null;
              });
            })
          : series.map((s, k) => (
              <g key={s.name} class={`series-${k}`}>
                {segments(s.values, x, y).map((pts) => (
                  <polyline key={pts} class="chart-line" points={pts} />
                ))}
                {s.values.map((v, i) =>
                  v !== null ? (
                    <circle key={labels[i]} class="chart-dot" cx={x(i)} cy={y(v)} r={3}>
                      <title>{`${labels[i]}${named ? ` ${s.name}` : ""}: ${format(v)}`}</title>
                    </circle>
                  ) : null,
                )}
              </g>
            ))}
        {labels.map((label, i) =>
          i % every === 0 ? (
            <text key={`t${label}-${i}`} class="chart-tick" x={x(i)} y={H - 6} text-anchor="middle">
              {label}
            </text>
          ) : null,
        )}
      </svg>
      <details class="chart-data">
        <summary>Data</summary>
        <div class="table-wrap">
          <table class="table">
            <caption class="visually-hidden">{title}</caption>
            <thead>
              <tr>
                <th scope="col">Bucket</th>
                {series.map((s) => (
                  <th key={s.name} scope="col" class="num">
                    {named ? s.name : title}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {labels.map((label, i) => (
                <tr key={`${label}-${i}`}>
                  <td>{label}</td>
                  {series.map((s) => {
                    const v = s.values[i] ?? null;
                    return (
                      <td key={s.name} class="num">
                        {v === null ? "–" : format(v)}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
