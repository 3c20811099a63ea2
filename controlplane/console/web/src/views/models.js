// 模型列表 Models: the list with 创建模型, and a model's page: its versions
// with status, training progress, 停止训练, and the way to each version's
// 评估报告, 校验, 发布 and package. The page polls while a version trains.

import { h, fill, table, card, badge, errorBox, showError, progressBar, when, duration } from "../dom.js";
import { L, appTypeName, metricName, stageName, statusName } from "../i18n.js";
import { get, post, seg, BASE } from "../api.js";

export async function modelsView(screen) {
  const name = h("input", { id: "model-name", maxlength: 100, placeholder: L("模型名称", "Model name") });
  const contact = h("input", { id: "model-contact", maxlength: 200, placeholder: L("联系方式（邮箱或电话）", "Contact (email or phone)") });
  const desc = h("textarea", { id: "model-description", rows: 3, maxlength: 1000, placeholder: L("功能描述", "What the model recognises") });
  const err = errorBox(null);
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "model-create" }, L("创建模型", "Create model"));
  const form = h("form", { class: "form" },
    h("label", null, L("模型名称", "Model name"), name),
    h("label", null, L("联系方式", "Contact"), contact),
    h("label", null, L("功能描述", "Description"), desc),
    err, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(err, null);
    if (!name.value.trim()) {
      showError(err, new Error(L("请输入模型名称", "Enter a model name")));
      return;
    }
    submit.disabled = true;
    try {
      const m = await post("/models", { name: name.value.trim(), contact: contact.value.trim(), description: desc.value.trim() });
      location.hash = "#/models/" + seg(m.id);
    } catch (e2) {
      showError(err, e2);
      submit.disabled = false;
    }
  });

  const res = await get("/models");
  const items = (res && res.items) || [];
  fill(screen.main,
    h("h1", null, L("模型列表", "Models")),
    card(L("我的模型", "My models"), table(
      [L("模型名称", "Name"), L("功能描述", "Description"), L("版本", "Versions"), L("创建时间", "Created")],
      items.map((m) => [
        h("a", { href: "#/models/" + seg(m.id), class: "model-link" }, m.name),
        h("span", { class: "muted" }, m.description || ""),
        h("div", { class: "chips" }, (m.versions || []).map((v) =>
          h("span", { class: "chip" }, `v${v.version} ${appTypeName(v.app_type)} `, badge(v.status)))),
        when(m.created_at),
      ]),
      L("还没有模型，请先创建一个。", "No models yet: create one below."))),
    card(L("创建模型", "Create a model"), form));
}

/** isCloud reports whether an application type publishes as a cloud service. */
export function isCloud(appType) {
  return String(appType || "").startsWith("cloud-");
}

/** publications renders a version's 发布状态. */
export function publications(list) {
  if (!list || !list.length) return h("span", { class: "muted" }, L("未发布", "Not published"));
  return h("div", { class: "chips" }, list.map((p) => {
    if (p.kind === "service") {
      const label = L(`云服务 ${p.name || p.path || ""}`, `Cloud service ${p.name || p.path || ""}`);
      const state = p.online === undefined ? null : badge(p.online ? "online" : "offline");
      return h("span", { class: "chip" }, p.id ? h("a", { href: "#/services/" + seg(p.id) }, label) : label, " ", state);
    }
    if (p.kind === "sdk") {
      return h("span", { class: "chip" }, L(`离线 SDK ${p.platform || ""}`, `Offline SDK ${p.platform || ""}`), " ", p.status ? badge(p.status === "ready" ? "ready" : p.status) : null);
    }
    if (p.kind === "device") {
      const who = p.count !== undefined ? L(`${p.count} 台设备`, `${p.count} devices`) : p.group || p.name || p.device_id || "";
      return h("span", { class: "chip" }, L(`设备 ${who}`, `Devices ${who}`));
    }
    return h("span", { class: "chip" }, p.kind || "?");
  }));
}

function progressCell(v) {
  if (v.status !== "queued" && v.status !== "training") return null;
  const p = v.progress || {};
  const pct = typeof p.percent === "number" ? p.percent : 0;
  const eta = p.eta_seconds > 0 ? L(` · 剩余约 ${duration(p.eta_seconds)}`, ` · about ${duration(p.eta_seconds)} left`) : "";
  const label = v.status === "queued" ? statusName("queued") : `${stageName(p.stage)} ${Math.round(pct)}%${eta}`;
  return progressBar(v.status === "queued" ? 0 : pct, label);
}

function versionRow(screen, modelID, v) {
  const base = `#/models/${seg(modelID)}/versions/${v.version}`;
  const actions = [];
  const err = errorBox(null);
  if (v.status === "queued" || v.status === "training") {
    const stop = h("button", { type: "button", class: "btn btn-small btn-danger act-stop" }, L("停止训练", "Stop training"));
    stop.addEventListener("click", async () => {
      if (!confirm(L(`确定停止训练 v${v.version}？`, `Stop training v${v.version}?`))) return;
      stop.disabled = true;
      try {
        await post(`/models/${seg(modelID)}/versions/${v.version}/stop`);
        screen.reload();
      } catch (e) {
        showError(err, e);
        stop.disabled = false;
      }
    });
    actions.push(stop);
  }
  if (v.status === "succeeded") {
    actions.push(
      h("a", { class: "btn btn-small act-report", href: base + "/report" }, L("完整评估报告", "Evaluation report")),
      h("a", { class: "btn btn-small act-validate", href: base + "/validate" }, L("校验", "Validate")),
      h("a", { class: "btn btn-small act-publish", href: base + "/publish" }, L("发布", "Publish")),
      h("a", { class: "btn btn-small", href: `${BASE}/models/${seg(modelID)}/versions/${v.version}/package`, download: "" }, L("下载模型包", "Download package")));
  }
  return h("tr", { class: "version-row", "data-version": v.version, "data-status": v.status },
    h("td", null, "v" + v.version),
    h("td", null, appTypeName(v.app_type)),
    h("td", null, metricName(v.metric)),
    h("td", null, badge(v.status), progressCell(v), v.error ? h("div", { class: "error small" }, v.error) : null),
    h("td", null, publications(v.publications)),
    h("td", null, h("div", { class: "actions" }, actions), err));
}

export async function modelView(screen, id) {
  const versionsBox = h("div", { id: "versions" });
  const draw = (m) => {
    const versions = [...(m.versions || [])].sort((a, b) => b.version - a.version);
    fill(versionsBox, table(
      [L("版本", "Version"), L("应用类型", "Application type"), L("指标", "Metric"), L("训练状态", "Status"), L("发布状态", "Published"), L("操作", "Actions")],
      versions.map((v) => versionRow(screen, id, v)),
      L("还没有版本：点击“训练新版本”开始训练。", "No versions yet: click \"Train a new version\".")));
    return versions.some((v) => v.status === "queued" || v.status === "training");
  };
  const m = await get("/models/" + seg(id));
  const busy = draw(m);
  fill(screen.main,
    h("div", { class: "crumbs" }, h("a", { href: "#/models" }, L("模型列表", "Models")), " / ", m.name),
    h("h1", null, m.name),
    m.description ? h("p", null, m.description) : null,
    h("p", { class: "muted" }, [m.contact ? L(`联系方式：${m.contact}`, `Contact: ${m.contact}`) : null, m.created_at ? L(` 创建于 ${when(m.created_at)}`, ` Created ${when(m.created_at)}`) : null]),
    card(L("版本列表", "Versions"),
      h("div", { class: "form-row" }, h("a", { class: "btn btn-primary", id: "train-new", href: `#/models/${seg(id)}/train` }, L("训练新版本", "Train a new version"))),
      versionsBox));
  if (busy) {
    screen.every(2000, async () => draw(await get("/models/" + seg(id))));
  }
}
