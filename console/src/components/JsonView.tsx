import { json } from "../format";

export function JsonView({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {json(value)}
    </pre>
  );
}
