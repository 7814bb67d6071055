// A modal dialog on the native <dialog> element: focus moves into it and stays there,
// Escape closes it, and focus returns to what opened it.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export function Dialog(props: {
  title: string;
  open: boolean;
  onClose: () => void;
  children: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dialog-title"
      onClose={props.onClose}
      onCancel={props.onClose}
    >
      <header class="dialog-header">
        <h2 id="dialog-title">{props.title}</h2>
        <button type="button" class="button ghost" onClick={props.onClose} aria-label="Close">
          ×
        </button>
      </header>
      {props.open ? props.children : null}
    </dialog>
  );
}
