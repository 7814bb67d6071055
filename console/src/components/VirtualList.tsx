// A list of fixed-height rows in a scrolling box that renders only the rows in view
// (and a few either side): a run with a hundred thousand events costs what its
// visible rows cost. With `stickToEnd`, new rows keep the view at the end while it was
// there already.

import type { ComponentChildren } from "preact";
import { useLayoutEffect, useRef, useState } from "preact/hooks";

const OVERSCAN = 8;

export function VirtualList<T>(props: {
  items: readonly T[];
  rowHeight: number;
  height: number;
  label: string;
  stickToEnd?: boolean;
  renderRow: (item: T, index: number) => ComponentChildren;
}) {
  const { items, rowHeight, height } = props;
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const atEnd = useRef(true);

  useLayoutEffect(() => {
    const el = box.current;
    if (el && props.stickToEnd && atEnd.current) {
      el.scrollTop = el.scrollHeight;
      setScrollTop(el.scrollTop);
    }
  }, [items.length, props.stickToEnd]);

  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - OVERSCAN);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + OVERSCAN);
  const rows: ComponentChildren[] = [];
  for (let i = first; i < last; i++) {
    rows.push(
      <div
        key={i}
        class="vrow"
        role="listitem"
        style={{ top: `${i * rowHeight}px`, height: `${rowHeight}px` }}
      >
        {props.renderRow(items[i] as T, i)}
      </div>,
    );
  }
  return (
    <div
      ref={box}
      class="vlist"
      style={{ height: `${Math.min(height, Math.max(rowHeight, items.length * rowHeight)) + 2}px` }}
      onScroll={(e) => {
        const el = e.currentTarget;
        atEnd.current = el.scrollTop + el.clientHeight >= el.scrollHeight - rowHeight;
        setScrollTop(el.scrollTop);
      }}
      role="list"
      aria-label={props.label}
      data-total={items.length}
    >
      <div class="vlist-space" style={{ height: `${items.length * rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
