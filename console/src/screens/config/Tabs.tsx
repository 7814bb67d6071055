// Tabs as links (each view has its URL): the current one marked for assistive technology.

export function Tabs(props: {
  label: string;
  current: string;
  items: { id: string; title: string; href: string }[];
  onPick?: (href: string) => void;
}) {
  return (
    <nav class="tabs" aria-label={props.label}>
      {props.items.map((item) => (
        <a
          key={item.id}
          href={item.href}
          aria-current={item.id === props.current ? "page" : undefined}
          onClick={(e) => {
            if (!props.onPick || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
            e.preventDefault();
            props.onPick(item.href);
          }}
        >
          {item.title}
        </a>
      ))}
    </nav>
  );
}
