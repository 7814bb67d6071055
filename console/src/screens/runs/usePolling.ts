import { useEffect, useRef } from "preact/hooks";

/** Call `tick` now and every `ms` while the page is visible, until unmounted or `deps`
 * change. */
export function usePolling(tick: (signal: AbortSignal) => Promise<void>, ms: number, deps: unknown[]): void {
  const latest = useRef(tick);
  latest.current = tick;
  useEffect(() => {
    const controller = new AbortController();
    let timer = 0;
    const run = async (): Promise<void> => {
      if (document.visibilityState === "visible") {
        try {
          await latest.current(controller.signal);
        } catch {
          // the tick shows its own errors; polling goes on
        }
      }
      if (!controller.signal.aborted) timer = window.setTimeout(run, ms);
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, deps);
}
