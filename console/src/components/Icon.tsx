// Icons drawn inline (no icon font, nothing fetched): 24×24 strokes in currentColor.

const PATHS = {
  chat: "M4 5h16v11H8l-4 4z",
  runs: "M4 6h16M4 12h10M4 18h13",
  sun: "M12 4V2m0 20v-2m8-8h2M2 12h2m13.7-5.7 1.4-1.4M4.9 19.1l1.4-1.4m0-11.4L4.9 4.9m14.2 14.2-1.4-1.4M12 8a4 4 0 1 0 0 8 4 4 0 0 0 0-8",
  moon: "M20 14.5A8 8 0 0 1 9.5 4 8 8 0 1 0 20 14.5z",
  system: "M3 5h18v11H3zM8 20h8m-4-4v4",
  menu: "M4 6h16M4 12h16M4 18h16",
  pause: "M8 5v14m8-14v14",
  play: "M7 4l13 8-13 8z",
  stop: "M6 6h12v12H6z",
  check: "M5 12l5 5L20 7",
  link: "M14 4h6v6m0-6-9 9M18 14v6H4V6h6",
  fork: "M6 3v6a6 6 0 0 0 6 6h0a6 6 0 0 1 6 6M6 21V9m12-6v6",
  restore: "M4 12a8 8 0 1 0 2.3-5.7L4 8.6M4 4v4.6h4.6",
  clock: "M12 7v5l3 2M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18",
} as const;

export type IconName = keyof typeof PATHS;

export function Icon({ name, label }: { name: IconName; label?: string }) {
  return (
    <svg
      class="icon"
      viewBox="0 0 24 24"
      width="18"
      height="18"
      fill="none"
      stroke="currentColor"
      stroke-width="2"
      stroke-linecap="round"
      stroke-linejoin="round"
      aria-hidden={label ? undefined : "true"}
      role={label ? "img" : undefined}
      aria-label={label}
      focusable="false"
    >
      <path d={PATHS[name]} />
    </svg>
  );
}
