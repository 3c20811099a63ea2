// console.mjs walks the AutoCV console in headless Chromium against a
// running autocv-server, the way a user would: log in, create a dataset
// from a zip (数据中心), see its labels and a skipped file with its reason,
// create a model, train a cloud-general version, read its evaluation report,
// validate one image (校验), and make, see and revoke an enrolment token
// (设备). It exits non-zero with a message naming the
// step that failed. The server's e2e test runs it:
//
//   AUTOCV_URL=http://127.0.0.1:PORT AUTOCV_ADMIN_PASSWORD=… \
//   AUTOCV_ZIP=dataset.zip AUTOCV_IMAGE=photo.jpg [AUTOCV_SHOTS=dir] \
//   node controlplane/console/web/e2e/console.mjs
//
// Optional: AUTOCV_IMAGE_LABEL (the label AUTOCV_IMAGE must get),
// AUTOCV_ADMIN_USER (default admin), CHROMIUM (default
// /usr/bin/chromium), AUTOCV_TRAIN_TIMEOUT_S (default 300).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = process.env;
const need = ["AUTOCV_URL", "AUTOCV_ADMIN_PASSWORD", "AUTOCV_ZIP", "AUTOCV_IMAGE"];
const missing = need.filter((k) => !env[k]);
if (missing.length) {
  console.error(`console e2e: missing environment: ${missing.join(", ")}`);
  process.exit(2);
}
const base = env.AUTOCV_URL.replace(/\/+$/, "");
const shots = env.AUTOCV_SHOTS || "";
const trainTimeout = (Number(env.AUTOCV_TRAIN_TIMEOUT_S) || 300) * 1000;
if (shots) mkdirSync(shots, { recursive: true });

const started = Date.now();
const log = (msg) => console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`);

class StepError extends Error {}
const fail = (msg) => {
  throw new StepError(msg);
};

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  timeout: 60_000,
});

const pageErrors = [];
const consoleErrors = [];
let page;
let current = "start";
let shotNo = 0;

async function shot(name) {
  if (!shots || !page) return;
  shotNo++;
  const file = join(shots, `${String(shotNo).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true }).catch((e) => log(`screenshot ${file}: ${e.message}`));
}

async function step(name, fn) {
  current = name;
  log(`step: ${name}`);
  await fn();
  if (pageErrors.length) fail(`JavaScript error on the page: ${pageErrors.join(" | ")}`);
}

// text returns the trimmed text of the first match, "" when there is none.
async function text(selector) {
  const loc = page.locator(selector).first();
  if (!(await loc.count())) return "";
  return ((await loc.textContent()) || "").trim();
}

// shownError returns the text of a visible error box, if any.
async function shownError() {
  const boxes = page.locator(".error:not([hidden])");
  const n = await boxes.count();
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = ((await boxes.nth(i).textContent()) || "").trim();
    if (t) out.push(t);
  }
  return out.join(" | ");
}

// waitFor waits for selector, failing early with the page's own error text
// when an error box appears, or when one of the failSelectors appears.
async function waitFor(selector, timeout, what, failSelectors = []) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await page.locator(selector).count()) return page.locator(selector).first();
    for (const f of failSelectors) {
      if (await page.locator(f).count()) fail(`${what}: the page shows ${f}: ${(await text(f)) || (await shownError())}`);
    }
    const err = await shownError();
    if (err) fail(`${what}: the page shows an error: ${err}`);
    await page.waitForTimeout(250);
  }
  fail(`${what}: ${selector} did not appear within ${Math.round(timeout / 1000)}s`);
}

const result = {};
try {
  const ctx = await browser.newContext({ viewport: { width: 1366, height: 900 }, locale: "zh-CN" });
  page = await ctx.newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") consoleErrors.push(m.text());
  });
  page.on("dialog", (d) => d.accept());

  await step("login", async () => {
    await page.goto(base + "/#/datasets", { waitUntil: "load", timeout: 30_000 });
    await waitFor("#login-form", 15_000, "unauthenticated visit should land on the login screen");
    await shot("login");
    await page.fill("#username", env.AUTOCV_ADMIN_USER || "admin");
    await page.fill("#password", env.AUTOCV_ADMIN_PASSWORD);
    await page.click("#login-submit");
    await waitFor(".nav-item[data-nav=datasets]", 15_000, "login");
    const cookies = await ctx.cookies(base);
    for (const name of ["autocv_session", "autocv_csrf"]) {
      if (!cookies.some((c) => c.name === name)) fail(`login set no ${name} cookie`);
    }
  });

  await step("language toggle", async () => {
    const zh = await text(".nav-item[data-nav=datasets]");
    if (zh !== "数据中心") fail(`default language should be zh-CN: nav shows ${JSON.stringify(zh)}`);
    await page.click(".lang-btn:has-text('English')");
    await page.waitForFunction(() => document.querySelector(".nav-item[data-nav=datasets]")?.textContent === "Datasets", null, { timeout: 5000 });
    await page.click(".lang-btn:has-text('中文')");
    await page.waitForFunction(() => document.querySelector(".nav-item[data-nav=datasets]")?.textContent === "数据中心", null, { timeout: 5000 });
  });

  await step("数据中心: create a dataset from the zip", async () => {
    await page.click(".nav-item[data-nav=datasets]");
    await waitFor("#dataset-create", 15_000, "datasets screen");
    result.dataset_name = `e2e-${Date.now()}`;
    await page.fill("#dataset-name", result.dataset_name);
    await page.setInputFiles("#dataset-file", env.AUTOCV_ZIP);
    await shot("datasets");
    await page.click("#dataset-create");
    await page.waitForFunction(() => /^#\/datasets\/[^/?]+$/.test(location.hash), null, { timeout: 120_000 })
      .catch(async () => fail(`upload did not open the dataset page: ${(await shownError()) || "no error shown"}`));
    result.dataset_id = decodeURIComponent((await page.evaluate(() => location.hash)).split("/")[2]);
  });

  await step("数据中心: wait until the dataset is ready", async () => {
    await waitFor("#dataset-status[data-status=ready]", 180_000, "dataset import", ["#dataset-status[data-status=failed]"]);
    const labels = await page.locator("#labels-table tr[data-label]").count();
    if (labels < 2) fail(`dataset shows ${labels} label(s), want at least 2`);
    const rows = page.locator("#import-report .skipped-row");
    if (!(await rows.count())) fail("the import report lists no skipped file (the test zip holds at least one bad file)");
    const reason = ((await rows.first().locator(".reason").textContent()) || "").trim();
    const code = await rows.first().getAttribute("data-reason");
    if (!reason) fail("a skipped file is shown without its reason");
    result.labels = labels;
    result.skipped = { count: await rows.count(), first_reason: code, shown_as: reason };
    await shot("dataset");
  });

  await step("模型列表: create a model", async () => {
    await page.click(".nav-item[data-nav=models]");
    await waitFor("#model-create", 15_000, "models screen");
    await page.fill("#model-name", `e2e model ${Date.now()}`);
    await page.fill("#model-contact", "e2e@example.invalid");
    await page.fill("#model-description", "console e2e");
    await page.click("#model-create");
    await page.waitForFunction(() => /^#\/models\/[^/?]+$/.test(location.hash), null, { timeout: 15_000 })
      .catch(async () => fail(`creating the model did not open its page: ${(await shownError()) || "no error shown"}`));
    result.model_id = decodeURIComponent((await page.evaluate(() => location.hash)).split("/")[2]);
    await waitFor("#train-new", 15_000, "model page");
    await shot("models");
  });

  await step("训练: start a cloud-general version", async () => {
    await page.click("#train-new");
    await waitFor("#train-app-types", 15_000, "train screen");
    for (const box of await page.locator("#train-app-types input[type=checkbox]").all()) {
      const want = (await box.getAttribute("value")) === "cloud-general";
      if ((await box.isChecked()) !== want) await box.setChecked(want);
    }
    await page.selectOption("#train-metric", "f1");
    await page.selectOption("#train-dataset", result.dataset_id);
    await page.click("#train-add-dataset");
    await waitFor(`fieldset[data-dataset="${result.dataset_id}"]`, 15_000, "adding the dataset's labels");
    const checked = await page.locator(`fieldset[data-dataset="${result.dataset_id}"] input[data-label]:checked`).count();
    if (checked < 2) fail(`only ${checked} trainable label(s) pre-selected, want at least 2`);
    await shot("train");
    await page.click("#train-start");
    await page.waitForFunction((id) => location.hash === "#/models/" + encodeURIComponent(id), result.model_id, { timeout: 15_000 })
      .catch(async () => fail(`starting training did not return to the model page: ${(await shownError()) || "no error shown"}`));
    await waitFor(".version-row", 15_000, "the new version in the version list");
  });

  await step("训练: wait until the version succeeded", async () => {
    await waitFor(".version-row[data-status=succeeded]", trainTimeout, "training",
      [".version-row[data-status=failed]", ".version-row[data-status=stopped]"]);
    result.version = Number(await page.locator(".version-row[data-status=succeeded]").first().getAttribute("data-version"));
    await shot("model");
  });

  await step("评估报告: open the report", async () => {
    await page.locator(".version-row[data-status=succeeded] .act-report").first().click();
    await waitFor("#verdict .verdict-text", 30_000, "report");
    const verdict = await text("#verdict .verdict-text");
    if (!verdict) fail("the report shows an empty verdict");
    result.verdict = verdict;
    const thumbs = page.locator("#misclassified img");
    if (await thumbs.count()) {
      await thumbs.first().scrollIntoViewIfNeeded(); // thumbnails load lazily
      const loaded = await thumbs.first().evaluate((img) => new Promise((ok) => {
        if (img.complete && img.src) return ok(img.naturalWidth > 0);
        img.addEventListener("load", () => ok(true));
        img.addEventListener("error", () => ok(false));
        setTimeout(() => ok(img.naturalWidth > 0), 15000);
      }));
      if (!loaded) fail(`a misclassified thumbnail did not load: ${await thumbs.first().getAttribute("src")}`);
      result.report_shows = "misclassified thumbnail";
    } else if (await page.locator("#confusion-matrix td.cm-cell").count()) {
      result.report_shows = "confusion matrix";
    } else {
      fail("the report shows neither a misclassified thumbnail nor a confusion matrix");
    }
    const accuracy = await text("#report-metrics [data-metric=accuracy] .metric-value");
    if (!/%$/.test(accuracy)) fail(`accuracy card shows ${JSON.stringify(accuracy)}`);
    result.accuracy = accuracy;
    await shot("report");
  });

  await step("校验: validate one image", async () => {
    await page.goto(`${base}/#/models/${encodeURIComponent(result.model_id)}/versions/${result.version}/validate`, { waitUntil: "load" });
    await waitFor("#validation-status", 15_000, "validation screen");
    if (!(await page.locator("#validation-status[data-status=ready]").count())) {
      if (await page.locator("#validation-start").count()) await page.click("#validation-start");
      await waitFor("#validation-status[data-status=ready]", 120_000, "validation service start", ["#validation-status[data-status=failed]"]);
    }
    await page.setInputFiles("#validate-files", env.AUTOCV_IMAGE);
    await page.click("#validate-run");
    await waitFor("#validate-results .bar-row", 60_000, "prediction", ["#validate-results .error"]);
    const rows = await page.locator("#validate-results .result-card").first().locator(".bar-row").count();
    if (rows < 1 || rows > 5) fail(`prediction shows ${rows} rows, want 1 to 5`);
    result.prediction = {
      top: await text("#validate-results .bar-row.top .bar-label"),
      confidence: await text("#validate-results .bar-row.top .bar-value"),
      rows,
    };
    if (!result.prediction.top) fail("the top prediction has no label");
    if (env.AUTOCV_IMAGE_LABEL && result.prediction.top !== env.AUTOCV_IMAGE_LABEL) {
      fail(`the photo was taken for ${result.prediction.top}, want ${env.AUTOCV_IMAGE_LABEL}`);
    }
    await shot("validate");
  });

  await step("设备: create an enrolment token, see it listed, revoke it", async () => {
    await page.goto(`${base}/#/devices`, { waitUntil: "load" });
    await waitFor("#enrol-group", 15_000, "devices screen");
    await page.fill("#enrol-group", "e2e-line");
    await page.click("#enrol-group >> xpath=ancestor::form//button[@type='submit']");
    await waitFor("#enrol-command", 15_000, "the enrol command");
    const cmd = await text("#enrol-command");
    if (!cmd.includes("autocv-agent enroll --server") || !cmd.includes("acve_")) fail(`enrol command: ${cmd}`);
    await page.goto(`${base}/#/devices?t=${Date.now()}`, { waitUntil: "load" });
    await waitFor("tr[data-token]", 15_000, "the token in the list");
    const before = await page.locator("tr[data-token]").count();
    await page.locator("tr[data-token] button").first().click();
    await page.waitForFunction((n) => document.querySelectorAll("tr[data-token]").length === n - 1, before, { timeout: 15_000 })
      .catch(() => fail("the revoked token is still listed"));
    result.enrolment_tokens = { listed: before, after_revoke: before - 1 };
    await shot("devices");
  });

  console.log(JSON.stringify({ ok: true, ...result }));
} catch (e) {
  await shot("failure");
  const where = page ? await page.evaluate(() => location.hash).catch(() => "?") : "?";
  console.error(`console e2e failed at step "${current}" (page ${where}): ${e instanceof StepError ? e.message : e.stack || e}`);
  if (pageErrors.length) console.error(`page errors: ${pageErrors.join(" | ")}`);
  if (consoleErrors.length) console.error(`console errors: ${consoleErrors.slice(-10).join(" | ")}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
