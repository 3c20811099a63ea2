// 发布 Publish: a cloud-* version becomes a named, API-key protected cloud
// service; an offline-* version becomes an SDK zip per platform. Also the
// list of cloud services and a service's page (online switch, version
// switch, statistics, API call document).

import { h, fill, table, card, badge, errorBox, showError, when, copyButton } from "../dom.js";
import { L, appTypeName, statusName } from "../i18n.js";
import { get, post, patch, seg, BASE } from "../api.js";
import { isCloud, publications } from "./models.js";

const PLATFORMS = [
  ["linux-amd64", "Linux x86_64"],
  ["windows-amd64", "Windows x86_64"],
];

function crumbs(m, version, last) {
  return h("div", { class: "crumbs" }, h("a", { href: "#/models" }, L("模型列表", "Models")), " / ",
    h("a", { href: "#/models/" + seg(m.id) }, m.name), " / ", `v${version}`, " / ", last);
}

function cloudForm(m, version) {
  const name = h("input", { id: "service-name", maxlength: 100, value: `${m.name}-v${version}` });
  const path = h("input", { id: "service-path", maxlength: 100, placeholder: "my-classifier" });
  const preview = h("code", null, `${BASE}/infer/…`);
  path.addEventListener("input", () => (preview.textContent = `${BASE}/infer/${path.value.trim() || "…"}`));
  const err = errorBox(null);
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "service-create" }, L("发布为云服务", "Publish as a cloud service"));
  const form = h("form", { class: "form" },
    h("label", null, L("服务名称", "Service name"), name),
    h("label", null, L("接口地址（不可重复；字母、数字、- 或 _）", "Endpoint path (unique; letters, digits, - or _)"), path),
    h("p", { class: "hint" }, L("调用地址：", "Endpoint: "), preview),
    err, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(err, null);
    const p = path.value.trim();
    if (!name.value.trim() || !p) {
      showError(err, new Error(L("请填写服务名称和接口地址", "Enter a service name and an endpoint path")));
      return;
    }
    submit.disabled = true;
    try {
      const s = await post("/services", { name: name.value.trim(), path: p, model_id: m.id, version: Number(version) });
      location.hash = "#/services/" + seg(s.id);
    } catch (e2) {
      showError(err, e2);
      submit.disabled = false;
    }
  });
  return form;
}

function sdkPanel(screen, base, platform, title) {
  const box = h("div", { class: "sdk", "data-platform": platform });
  const err = errorBox(null);
  const build = async () => {
    showError(err, null);
    try {
      await post(`${base}/sdk`, { platform });
      draw({ status: "building" });
      watch();
    } catch (e) {
      showError(err, e);
    }
  };
  const draw = (s) => {
    const status = s ? s.status : "";
    fill(box, h("h3", null, title), h("p", null, status ? badge(status) : h("span", { class: "muted" }, L("未构建", "not built"))),
      status === "failed" && s.error ? h("p", { class: "error" }, s.error) : null,
      status === "ready" ? h("a", { class: "btn btn-primary", href: `${BASE}${base}/sdk/${platform}/download`, download: "" }, L("下载 SDK", "Download the SDK")) : null,
      status !== "building" ? h("button", { type: "button", class: "btn", onclick: build }, status ? L("重新构建", "Build again") : L("生成 SDK", "Build the SDK")) : null,
      err);
  };
  const fetchStatus = async () => {
    try {
      return await get(`${base}/sdk/${platform}`);
    } catch (e) {
      if (e.status === 404) return null;
      throw e;
    }
  };
  const watch = () => screen.every(2000, async () => {
    const s = await fetchStatus();
    draw(s);
    return !!s && s.status === "building";
  });
  return {
    node: box,
    async load() {
      const s = await fetchStatus();
      draw(s);
      if (s && s.status === "building") watch();
    },
  };
}

export async function publishView(screen, id, version) {
  const base = `/models/${seg(id)}/versions/${version}`;
  const [m, v] = await Promise.all([get("/models/" + seg(id)), get(base)]);
  const head = [crumbs(m, version, L("发布", "Publish")),
    h("h1", null, L(`发布：${m.name} v${version}`, `Publish: ${m.name} v${version}`)),
    h("p", { class: "muted" }, appTypeName(v.app_type), " · ", L("发布状态：", "Published: "), publications(v.publications))];
  if (v.status !== "succeeded") {
    fill(screen.main, ...head, h("p", { class: "warn" }, L(`该版本${statusName(v.status)}，训练完成后才能发布。`, `This version is ${statusName(v.status)}; only a trained version can be published.`)));
    return;
  }
  if (isCloud(v.app_type)) {
    fill(screen.main, ...head,
      card(L("云服务发布", "Cloud service"),
        h("p", { class: "hint" }, L("发布后模型以 HTTP 接口提供服务，调用需要 API 密钥。", "The model is served over HTTP; calls need an API key.")),
        cloudForm(m, version)));
    return;
  }
  const panels = PLATFORMS.map(([p, title]) => sdkPanel(screen, base, p, title));
  fill(screen.main, ...head,
    card(L("离线服务：设备端 SDK", "Offline: device SDK"),
      h("p", { class: "hint" }, L("SDK 支持 Windows、Linux。解压后运行启动脚本，浏览器打开 http://127.0.0.1:8987/upload 上传图片即可识别。",
        "SDKs for Windows and Linux. Unzip, run the start script, and open http://127.0.0.1:8987/upload to classify images.")),
      h("div", { class: "sdk-grid" }, panels.map((x) => x.node))),
    card(L("设备部署", "Devices"), h("p", null, L("也可以把该版本下发到已注册的设备：", "You can also roll this version out to enrolled devices: "),
      h("a", { href: "#/devices" }, L("设备", "Devices")))));
  await Promise.all(panels.map((x) => x.load()));
}

function fullURL(u) {
  if (!u) return "";
  return /^https?:\/\//.test(u) ? u : location.origin + (u.startsWith("/") ? u : "/" + u);
}

export async function servicesView(screen) {
  const res = await get("/services");
  const items = (res && res.items) || [];
  fill(screen.main,
    h("h1", null, L("发布 · 云服务", "Publish · cloud services")),
    h("p", { class: "hint" }, L("在模型版本的“发布”操作中创建云服务或离线 SDK。", "Create a cloud service or an offline SDK from a model version's \"Publish\" action."),
      " ", h("a", { href: "#/models" }, L("前往模型列表", "Go to models"))),
    card(L("云服务", "Cloud services"), table(
      [L("服务名称", "Name"), L("接口地址", "Endpoint"), L("模型版本", "Model version"), L("状态", "State"), L("创建时间", "Created")],
      items.map((s) => [
        h("a", { href: "#/services/" + seg(s.id), class: "service-link" }, s.name),
        h("code", null, s.url || `${BASE}/infer/${s.path}`),
        h("a", { href: "#/models/" + seg(s.model_id) }, `${s.model_name || s.model_id} v${s.version}`),
        badge(s.online ? "online" : "offline"),
        when(s.created_at),
      ]),
      L("还没有云服务", "No cloud services yet"))));
}

function showDoc(x) {
  if (x === undefined || x === null || x === "") return "–";
  return typeof x === "string" ? x : JSON.stringify(x, null, 2);
}

export async function serviceView(screen, id) {
  const s = await get("/services/" + seg(id));
  let m = null;
  try {
    m = await get("/models/" + seg(s.model_id));
  } catch {
    // The model page link still works; the version switch is left out.
  }
  const err = errorBox(null);
  const toggle = h("button", { type: "button", class: "btn " + (s.online ? "btn-danger" : "btn-primary"), id: "service-toggle" },
    s.online ? L("下线", "Take offline") : L("上线", "Bring online"));
  toggle.addEventListener("click", async () => {
    showError(err, null);
    toggle.disabled = true;
    try {
      await patch("/services/" + seg(id), { online: !s.online });
      screen.reload();
    } catch (e) {
      showError(err, e);
      toggle.disabled = false;
    }
  });

  let switcher = null;
  const candidates = ((m && m.versions) || []).filter((v) => v.status === "succeeded" && isCloud(v.app_type));
  if (candidates.length > 1) {
    const sel = h("select", { id: "service-version" }, candidates.map((v) =>
      h("option", { value: v.version, selected: v.version === s.version }, `v${v.version} ${appTypeName(v.app_type)}`)));
    const btn = h("button", { type: "button", class: "btn" }, L("切换版本", "Switch version"));
    btn.addEventListener("click", async () => {
      showError(err, null);
      btn.disabled = true;
      try {
        await patch("/services/" + seg(id), { version: Number(sel.value) });
        screen.reload();
      } catch (e) {
        showError(err, e);
        btn.disabled = false;
      }
    });
    switcher = h("div", { class: "form-row" }, h("label", null, L("模型版本", "Model version"), sel), btn);
  }

  const st = s.stats || {};
  const ex = s.example || {};
  const url = fullURL(s.url || `${BASE}/infer/${s.path}`);
  const curl = ex.curl || `curl -X POST -H "Authorization: Bearer <API_KEY>" --data-binary @photo.jpg ${url}`;
  const stat = (name, value) => h("div", { class: "metric" }, h("div", { class: "metric-value" }, value ?? "–"), h("div", { class: "metric-name" }, name));
  const ms = (x) => (typeof x === "number" ? x.toFixed(1) + " ms" : "–");

  fill(screen.main,
    h("div", { class: "crumbs" }, h("a", { href: "#/services" }, L("发布", "Publish")), " / ", s.name),
    h("h1", null, s.name, " ", h("span", { id: "service-state" }, badge(s.online ? "online" : "offline"))),
    card(L("服务详情", "Service"),
      h("dl", { class: "facts" },
        h("dt", null, L("接口地址", "Endpoint")), h("dd", null, h("code", { id: "service-url" }, url)),
        h("dt", null, L("模型版本", "Model version")), h("dd", null, h("a", { href: "#/models/" + seg(s.model_id) }, `${(m && m.name) || s.model_id} v${s.version}`))),
      h("div", { class: "form-row" }, toggle, h("button", { type: "button", class: "btn", onclick: () => screen.reload() }, L("刷新", "Refresh"))),
      switcher, err),
    card(L("调用统计", "Calls"), h("div", { class: "metrics" },
      stat(L("调用次数", "Calls"), st.calls), stat(L("错误次数", "Errors"), st.errors),
      stat("P50", ms(st.p50_ms)), stat("P90", ms(st.p90_ms)), stat("P99", ms(st.p99_ms)))),
    card(L("API 调用文档", "API call document"),
      h("p", null, L("请求方式：POST，请求体为一张图片（原始字节或 multipart 的 file 字段，多个 file 字段可批量识别）。认证：请求头 Authorization: Bearer <API 密钥>，在 ",
        "POST one image (raw body or a multipart file part; several file parts classify a batch). Authenticate with the header Authorization: Bearer <API key>, created under "),
        h("a", { href: "#/apikeys" }, L("API 密钥", "API keys")), L(" 中创建。", ".")),
      h("h3", null, L("curl 示例", "curl example")),
      h("div", { class: "code-block" }, h("pre", { id: "service-curl" }, curl), copyButton(curl)),
      h("h3", null, L("请求", "Request")), h("pre", null, showDoc(ex.request)),
      h("h3", null, L("返回示例", "Response")), h("pre", null, showDoc(ex.response))));
}
