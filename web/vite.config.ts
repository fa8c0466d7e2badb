import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const sdk = fileURLToPath(new URL("../sdk/typescript/src/index.ts", import.meta.url));

// The SDK is used from its source (sdk/typescript/src), so the app always matches the
// checked-in schema without building or packing the SDK first; its one runtime dependency,
// openapi-fetch, comes from this package's node_modules (`dedupe`).
export default defineConfig({
  plugins: [react()],
  resolve: {
    alias: { "eats-client": sdk },
    dedupe: ["openapi-fetch"],
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No inline scripts or data: URLs for modules: the server's CSP allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    proxy: { "/api": "http://127.0.0.1:8080" },
  },
});
