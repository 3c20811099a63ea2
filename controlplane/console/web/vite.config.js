// Vite builds the console (Vue 3 + Element Plus + ECharts) into ../dist/app,
// which console.go embeds into autocv-server. Element Plus components are
// imported on demand (unplugin-vue-components reads the templates), so the
// bundle carries only the components the pages use. `npm run dev` serves
// it with hot reload and proxies the API to a running server (AUTOCV_URL,
// default http://127.0.0.1:8080).
import vue from "@vitejs/plugin-vue";
import { ElementPlusResolver } from "unplugin-vue-components/resolvers";
import Components from "unplugin-vue-components/vite";
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  plugins: [vue(), Components({ resolvers: [ElementPlusResolver({ importStyle: "css" })], dts: false })],
  build: {
    outDir: "../dist/app",
    emptyOutDir: true,
    assetsDir: "assets",
    // The product runs offline: no external fonts, no CDN, everything
    // emitted as hashed files under /assets/.
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 1200,
    rollupOptions: {
      output: {
        // Libraries change less often than the pages: their own chunks stay cached.
        manualChunks: { vue: ["vue", "vue-router"], echarts: ["echarts/core", "echarts/charts", "echarts/components", "echarts/renderers"] },
      },
    },
  },
  server: {
    proxy: {
      "/api": process.env.AUTOCV_URL || "http://127.0.0.1:8080",
    },
  },
});
