// Builds the console into the Python package (agio/console_dist), or into
// AGIO_CONSOLE_OUT (scripts/check-console builds into a temporary folder and compares).
// Every asset is a file of its own under /assets/ with a content hash in its name: no
// inline scripts or data: URLs, so the page runs under `default-src 'self'`.
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const outDir =
  process.env.AGIO_CONSOLE_OUT ?? fileURLToPath(new URL("../agio/console_dist", import.meta.url));

export default defineConfig({
  base: "/",
  // `npm run dev`: the console from source, talking to a server on :8000 (./scripts/serve)
  server: { proxy: { "/api": "http://127.0.0.1:8000" } },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: "assets",
    assetsInlineLimit: 0,
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
    reportCompressedSize: false,
  },
});
