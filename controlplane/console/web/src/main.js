// The console's shell: hash routing, the left navigation, the language
// toggle and the session. Each screen is a function view(screen, ...params)
// that fills screen.main; timers it starts through screen.every stop when
// the user leaves the screen.

import "./style.css";
import { h, fill, errorBox } from "./dom.js";
import { L, lang, setLang, onLangChange } from "./i18n.js";
import { onUnauthorized, hasSession } from "./api.js";
import { currentUser, toLogin, logout } from "./session.js";
import { loginView } from "./views/login.js";
import { datasetsView, datasetView, labelView } from "./views/datasets.js";
import { modelsView, modelView } from "./views/models.js";
import { trainView } from "./views/train.js";
import { reportView } from "./views/report.js";
import { validateView } from "./views/validate.js";
import { publishView, servicesView, serviceView } from "./views/publish.js";
import { apikeysView } from "./views/apikeys.js";
import { devicesView } from "./views/devices.js";

const routes = [
  [/^\/login$/, loginView, "login"],
  [/^\/datasets$/, datasetsView, "datasets"],
  [/^\/datasets\/([^/]+)$/, datasetView, "datasets"],
  [/^\/datasets\/([^/]+)\/labels\/([^/]+)$/, labelView, "datasets"],
  [/^\/models$/, modelsView, "models"],
  [/^\/models\/([^/]+)$/, modelView, "models"],
  [/^\/models\/([^/]+)\/train$/, trainView, "models"],
  [/^\/models\/([^/]+)\/versions\/(\d+)\/report$/, reportView, "models"],
  [/^\/models\/([^/]+)\/versions\/(\d+)\/validate$/, validateView, "models"],
  [/^\/models\/([^/]+)\/versions\/(\d+)\/publish$/, publishView, "services"],
  [/^\/services$/, servicesView, "services"],
  [/^\/services\/([^/]+)$/, serviceView, "services"],
  [/^\/apikeys$/, apikeysView, "apikeys"],
  [/^\/devices$/, devicesView, "devices"],
];

const NAV = [
  ["datasets", "#/datasets", () => L("数据中心", "Datasets")],
  ["models", "#/models", () => L("模型列表", "Models")],
  ["services", "#/services", () => L("发布", "Publish")],
  ["devices", "#/devices", () => L("设备", "Devices")],
  ["apikeys", "#/apikeys", () => L("API 密钥", "API keys")],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const q = raw.indexOf("?");
  const path = q < 0 ? raw : raw.slice(0, q);
  const query = new URLSearchParams(q < 0 ? "" : raw.slice(q + 1));
  return { path, query };
}

let screen = null;

function newScreen(main, query) {
  let alive = true;
  const stops = [];
  return {
    main,
    query,
    get alive() {
      return alive;
    },
    /** every runs fn every ms until it returns false or the screen is left. */
    every(ms, fn) {
      let timer;
      const tick = async () => {
        if (!alive) return;
        let again = true;
        try {
          again = await fn();
        } catch {
          again = true; // a failed poll is retried; a 401 leaves the screen anyway
        }
        if (alive && again !== false) timer = setTimeout(tick, ms);
      };
      timer = setTimeout(tick, ms);
      stops.push(() => clearTimeout(timer));
    },
    onLeave(fn) {
      stops.push(fn);
    },
    leave() {
      alive = false;
      for (const fn of stops) fn();
    },
    /** reload renders the current route again. */
    reload() {
      render();
    },
  };
}

function langToggle() {
  const btn = (l, text) =>
    h("button", { type: "button", class: "lang-btn" + (lang() === l ? " active" : ""), onclick: () => setLang(l), "aria-pressed": String(lang() === l) }, text);
  return h("div", { class: "lang-toggle", role: "group", "aria-label": "Language" }, btn("zh-CN", "中文"), btn("en", "English"));
}

function shell(active) {
  const user = currentUser();
  const main = h("main", { class: "main", id: "main" });
  const nav = h("nav", { class: "nav" },
    h("div", { class: "brand" }, "AutoCV"),
    NAV.map(([id, href, name]) => h("a", { href, class: "nav-item" + (id === active ? " active" : ""), "data-nav": id }, name())));
  const top = h("header", { class: "topbar" },
    h("div", { class: "topbar-title" }, L("图像分类控制台", "Image classification console")),
    h("div", { class: "topbar-right" },
      langToggle(),
      user ? h("span", { class: "user" }, user.username) : null,
      h("button", { type: "button", class: "btn btn-small", id: "logout", onclick: logout }, L("退出登录", "Log out"))));
  return { node: h("div", { class: "layout" }, nav, h("div", { class: "content" }, top, main)), main };
}

async function render() {
  if (screen) screen.leave();
  const app = document.getElementById("app");
  const { path, query } = parseHash();
  if (path === "/" || path === "") {
    location.replace("#/datasets");
    return;
  }
  if (path !== "/login" && !hasSession()) {
    toLogin();
    return;
  }
  let found = null;
  for (const [re, view, area] of routes) {
    const m = path.match(re);
    if (m) {
      found = { view, area, params: m.slice(1).map((p) => decodeURIComponent(p)) };
      break;
    }
  }
  let main;
  if (found && found.area === "login") {
    main = h("div", { class: "login-page" });
    fill(app, h("div", { class: "login-lang" }, langToggle()), main);
  } else {
    const s = shell(found ? found.area : "");
    main = s.main;
    fill(app, s.node);
  }
  const current = newScreen(main, query);
  screen = current;
  if (!found) {
    fill(main, h("h1", null, L("页面不存在", "Page not found")), h("p", null, h("a", { href: "#/datasets" }, L("返回数据中心", "Back to datasets"))));
    return;
  }
  fill(main, h("p", { class: "muted" }, L("加载中…", "Loading…")));
  try {
    await found.view(current, ...found.params);
  } catch (e) {
    if (!current.alive) return;
    fill(main, h("h1", null, L("出错了", "Something went wrong")), errorBox(e), h("p", null, h("a", { href: "#/datasets" }, L("返回数据中心", "Back to datasets"))));
  }
}

onUnauthorized(toLogin);
onLangChange(render);
window.addEventListener("hashchange", render);
document.documentElement.lang = lang();
render();
