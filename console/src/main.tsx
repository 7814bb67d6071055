import { render } from "preact";
import { App } from "./app";
import { applyTheme, storedTheme } from "./theme";
import "./styles/base.css";
import "./styles/screens.css";

applyTheme(storedTheme());
const root = document.getElementById("app");
if (root) render(<App />, root);
