// Vite builds the console into ../dist/app, which console.go embeds into
// autocv-server. `npm run dev` serves it with hot reload and proxies the
// API to a running server (AUTOCV_URL, default http://127.0.0.1:8080).
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: "../dist/app",
    emptyOutDir: true,
    assetsDir: "assets",
    // The product runs offline: no external fonts, no CDN, everything inlined
    // or emitted as hashed files under /assets/.
    sourcemap: false,
    target: "es2022",
  },
  server: {
    proxy: {
      "/api": process.env.AUTOCV_URL || "http://127.0.0.1:8080",
    },
  },
});
