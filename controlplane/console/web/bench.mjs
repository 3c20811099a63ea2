// bench.mjs measures the built console (../dist/app): its size gzipped
// (everything, and what the first page loads) and the first-load time in
// Debian's Chromium on localhost — navigation start until the login form
// is shown, median of 5 cold loads (a new browser context each, so no
// cache). The files are served by a small static server with the same
// rules as console.go (index.html for paths without an extension). Prints
// one Markdown table row; `make bench` runs it.
//
//   node bench.mjs [--runs 5]
import { readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { chromium } from "playwright-core";

const dist = fileURLToPath(new URL("../dist/app", import.meta.url));
const runs = Number(process.argv[process.argv.indexOf("--runs") + 1]) || 5;
const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml" };

const files = new Map();
(function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else files.set("/" + p.slice(dist.length + 1).split("\\").join("/"), readFileSync(p));
  }
})(dist);
if (!files.has("/index.html")) {
  console.error(`bench: no console build in ${dist}: run make console`);
  process.exit(2);
}
const gz = (b) => gzipSync(b, { level: 9 }).length;
const total = [...files.values()].reduce((n, b) => n + gz(b), 0);

const server = createServer((req, res) => {
  const path = new URL(req.url, "http://x").pathname;
  const body = files.get(path) || (extname(path) ? null : files.get("/index.html"));
  if (!body) {
    res.writeHead(404).end();
    return;
  }
  const type = types[extname(files.has(path) ? path : "/index.html")] || "application/octet-stream";
  const zipped = gzipSync(body);
  res.writeHead(200, { "Content-Type": type, "Content-Encoding": "gzip", "Content-Length": zipped.length });
  res.end(zipped);
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const url = `http://127.0.0.1:${server.address().port}/#/login`;

const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
const times = [];
let firstPage = 0;
try {
  for (let i = 0; i < runs; i++) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 720 } });
    const page = await ctx.newPage();
    const loaded = new Set();
    page.on("request", (r) => loaded.add(new URL(r.url()).pathname));
    const t0 = Date.now();
    await page.goto(url);
    await page.waitForSelector("#login-form", { timeout: 30_000 });
    times.push(Date.now() - t0);
    firstPage = [...loaded].reduce((n, p) => n + (files.has(p) ? gz(files.get(p)) : 0), 0);
    await ctx.close();
  }
} finally {
  await browser.close();
  server.close();
}
times.sort((a, b) => a - b);
const kb = (n) => (n / 1024).toFixed(0) + " KB";
console.log("| console | files | gzip, all | gzip, first page | first load (median of " + runs + ") |");
console.log("|---|---|---|---|---|");
console.log(`| Vue 3 + Element Plus + ECharts | ${files.size} | ${kb(total)} | ${kb(firstPage)} | ${times[Math.floor(times.length / 2)]} ms |`);
