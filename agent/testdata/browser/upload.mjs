// upload.mjs drives headless Chromium through the agent's /upload page for
// agent/browser_test.go: open the page, (enter the API key when the page
// asks for one,) pick a photo, wait for its result card and print what the
// page shows as one JSON line. A screenshot of the page goes to SHOT.
//
//   node upload.mjs URL PHOTO SHOT
//   env CHROMIUM (default /usr/bin/chromium), AUTOCV_API_KEY (optional)
import { chromium } from "playwright-core";

const [url, photo, shot] = process.argv.slice(2);
if (!url || !photo || !shot) {
  console.error("usage: node upload.mjs URL PHOTO SHOT");
  process.exit(2);
}
const apiKey = process.env.AUTOCV_API_KEY || "";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  timeout: 60_000,
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 700 } });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("requestfailed", (r) => errors.push("request failed: " + r.url()));

  await page.goto(url, { waitUntil: "load", timeout: 30_000 });
  let askedForKey = false;
  if (apiKey) {
    await page.locator("#keybox").waitFor({ state: "visible", timeout: 15_000 });
    askedForKey = true;
    await page.fill("#key", apiKey);
    await page.click("#keybox button");
  }
  // The model line reads "模型 / Model: <id> v<version> · …" once /v1/model answered.
  await page.waitForFunction(() => document.getElementById("model").textContent.startsWith("模型 / Model:"),
    null, { timeout: 30_000 });

  await page.setInputFiles("#files", photo);
  const card = page.locator(".card").first();
  await card.locator(".row.top, .err").first().waitFor({ timeout: 60_000 });
  const result = {
    top: ((await card.locator(".row.top .lbl span").first().textContent({ timeout: 1000 }).catch(() => "")) || "").trim(),
    confidence: ((await card.locator(".row.top .lbl span").nth(1).textContent({ timeout: 1000 }).catch(() => "")) || "").trim(),
    rows: await card.locator(".row").count(),
    error: ((await card.locator(".err").textContent({ timeout: 100 }).catch(() => "")) || "").trim(),
    name: ((await card.locator(".name").textContent()) || "").trim(),
    model: ((await page.textContent("#model")) || "").trim(),
    askedForKey,
    errors,
  };
  await page.screenshot({ path: shot, fullPage: true });
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
