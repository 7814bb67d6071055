// Light and dark: by default the system's (prefers-color-scheme, in the CSS); a choice
// made with the toggle is kept in localStorage and set as <html data-theme>.

export type ThemeChoice = "system" | "light" | "dark";

const KEY = "agio.theme";
export const THEME_ORDER: readonly ThemeChoice[] = ["system", "light", "dark"];

export function storedTheme(): ThemeChoice {
  try {
    const value = localStorage.getItem(KEY);
    return value === "light" || value === "dark" ? value : "system";
  } catch {
    return "system";
  }
}

export function applyTheme(choice: ThemeChoice): void {
  const root = document.documentElement;
  if (choice === "system") delete root.dataset["theme"];
  else root.dataset["theme"] = choice;
  try {
    if (choice === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
  } catch {
    // storage may be off: the choice then lasts for this page only
  }
}

export function nextTheme(choice: ThemeChoice): ThemeChoice {
  return THEME_ORDER[(THEME_ORDER.indexOf(choice) + 1) % THEME_ORDER.length] ?? "system";
}
