// A small hand-drawn SVG chart (bars or a line) of one series over time, with its values
// as a table for screen readers (the SVG itself is one labelled image).

export interface Point {
  label: string;
  value: number;
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

export function Chart(props: {
  title: string;
  kind: "bar" | "line";
  points: Point[];
  format?: (n: number) => string;
  /** Whether the values add up to something (runs do; percentiles do not). */
  summed?: boolean;
}) {
  const { points, kind, title } = props;
  const format = props.format ?? ((n: number) => n.toLocaleString());
  const top = niceMax(Math.max(0, ...points.map((p) => p.value)));
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const slot = innerW / Math.max(1, points.length);
  const x = (i: number): number => PAD.left + slot * i + slot / 2;
  const y = (v: number): number => PAD.top + innerH - (v / top) * innerH;
  const total = points.reduce((sum, p) => sum + p.value, 0);
  const summary = props.summed === false ? `${points.length} values` : `total ${format(total)}`;
  const every = Math.max(1, Math.ceil(points.length / 6));
  return (
    <figure class="chart" data-chart={title}>
      <figcaption>
        {title} <span class="muted small">({summary})</span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${props.summed === false ? summary : `${points.length} buckets, ${summary}`}`}>
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
          ? points.map((p, i) => (
              <rect
                key={p.label}
                class="chart-bar"
                x={x(i) - Math.max(1, slot * 0.35)}
                width={Math.max(2, slot * 0.7)}
                y={y(p.value)}
                height={PAD.top + innerH - y(p.value)}
              >
                <title>{`${p.label}: ${format(p.value)}`}</title>
              </rect>
            ))
          : [
              <polyline
                key="line"
                class="chart-line"
                points={points.map((p, i) => `${x(i)},${y(p.value)}`).join(" ")}
              />,
              ...points.map((p, i) =>
                p.value > 0 ? (
                  <circle key={p.label} class="chart-dot" cx={x(i)} cy={y(p.value)} r={3}>
                    <title>{`${p.label}: ${format(p.value)}`}</title>
                  </circle>
                ) : null,
              ),
            ]}
        {points.map((p, i) =>
          i % every === 0 ? (
            <text key={`t${p.label}`} class="chart-tick" x={x(i)} y={H - 6} text-anchor="middle">
              {p.label}
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
                <th scope="col" class="num">
                  {title}
                </th>
              </tr>
            </thead>
            <tbody>
              {points.map((p) => (
                <tr key={p.label}>
                  <td>{p.label}</td>
                  <td class="num">{format(p.value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  );
}
