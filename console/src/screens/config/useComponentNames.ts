import { useEffect, useState } from "preact/hooks";
import { listComponents, type ComponentType } from "../../api/components";

/** The names of the components of `types` (for the pickers of a form), by type. */
export function useComponentNames(types: readonly ComponentType[]): Partial<Record<ComponentType, string[]>> {
  const [names, setNames] = useState<Partial<Record<ComponentType, string[]>>>({});
  useEffect(() => {
    const controller = new AbortController();
    for (const type of types) {
      listComponents(type, controller.signal).then(
        (list) => setNames((current) => ({ ...current, [type]: list.configs.map((c) => c.name) })),
        () => undefined, // a picker without suggestions still takes a typed name
      );
    }
    return () => controller.abort();
  }, [types.join(",")]);
  return names;
}
