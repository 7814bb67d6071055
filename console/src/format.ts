// How times, durations and numbers read in the console.

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
  });
}

export function clock(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n: number, w = 2): string => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function duration(secondsValue: number | null | undefined): string {
  if (secondsValue === null || secondsValue === undefined) return "–";
  if (secondsValue < 1) return `${Math.round(secondsValue * 1000)} ms`;
  if (secondsValue < 60) return `${secondsValue.toFixed(2)} s`;
  const minutes = Math.floor(secondsValue / 60);
  return `${minutes} min ${Math.round(secondsValue % 60)} s`;
}

export function count(n: number | null | undefined): string {
  return typeof n === "number" ? n.toLocaleString() : "–";
}

export function shorten(value: string, max = 120): string {
  const line = value.replace(/\s+/g, " ").trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2) ?? "null";
}
