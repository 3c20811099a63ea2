// 设备 Devices: the fleet (filter by group), the model each device serves
// and should serve, setting a device's desired model version, and enrolment
// tokens with the command to run on a new device, listed with their uses
// left and revocable.

import { h, fill, table, card, badge, errorBox, showError, when, copyButton } from "../dom.js";
import { L, appTypeName } from "../i18n.js";
import { get, post, put, del, seg } from "../api.js";

function modelRef(x) {
  if (!x) return null;
  const m = x.model || (x.model_id ? { id: x.model_id, version: x.version } : null);
  return m && m.id ? m : null;
}

function refText(m, names) {
  return m ? `${names.get(m.id) || m.id} v${m.version}` : "–";
}

function enrolCard(screen, tokens) {
  const group = h("input", { id: "enrol-group", maxlength: 100, placeholder: L("例如 车间A", "e.g. plant-a") });
  const uses = h("input", { id: "enrol-uses", type: "number", min: 1, max: 10000, value: 1 });
  const hours = h("input", { id: "enrol-hours", type: "number", min: 1, max: 720, value: 24 });
  const err = errorBox(null);
  const out = h("div", { id: "enrol-token" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, L("生成注册令牌", "Create enrolment token"));
  const form = h("form", { class: "form-row" },
    h("label", null, L("分组", "Group"), group),
    h("label", null, L("可用次数", "Uses"), uses),
    h("label", null, L("有效期（小时）", "Valid for (hours)"), hours),
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(err, null);
    const n = parseInt(uses.value, 10), hh = parseInt(hours.value, 10);
    if (!(n >= 1)) return showError(err, new Error(L("可用次数至少为 1", "Uses must be at least 1")));
    if (!(hh >= 1)) return showError(err, new Error(L("有效期至少 1 小时", "Validity must be at least 1 hour")));
    submit.disabled = true;
    try {
      const t = await post("/enrollment-tokens", { group: group.value.trim(), uses: n, expires_in: hh * 3600 });
      const cmd = `autocv-agent enroll --server ${location.origin} --token ${t.token}`;
      fill(out, h("div", { class: "secret" },
        h("p", null, L(`令牌有效至 ${when(t.expires_at)}。在设备上运行：`, `Valid until ${when(t.expires_at)}. On the device run:`)),
        h("div", { class: "code-block" }, h("pre", { id: "enrol-command" }, cmd), copyButton(cmd)),
        h("p", { class: "muted" }, L("然后运行 autocv-agent run。", "then autocv-agent run."))));
    } catch (e2) {
      showError(err, e2);
    } finally {
      submit.disabled = false;
    }
  });
  const rows = tokens.map((t) => {
    const revoke = h("button", { type: "button", class: "btn btn-small btn-danger" }, L("吊销", "Revoke"));
    revoke.addEventListener("click", async () => {
      showError(err, null);
      revoke.disabled = true;
      try {
        await del(`/enrollment-tokens/${seg(t.id)}`);
        screen.reload();
      } catch (e) {
        showError(err, e);
        revoke.disabled = false;
      }
    });
    const state = t.expired ? L("已过期", "expired") : t.uses_left > 0 ? L("可用", "usable") : L("已用完", "used up");
    return h("tr", { "data-token": t.id },
      h("td", { class: "mono small" }, t.id),
      h("td", null, t.group),
      h("td", null, String(t.uses_left)),
      h("td", null, when(t.expires_at)),
      h("td", null, state),
      h("td", null, revoke));
  });
  const list = table([L("令牌", "Token"), L("分组", "Group"), L("剩余次数", "Uses left"), L("有效期至", "Valid until"), L("状态", "State"), L("操作", "Actions")],
    rows, L("还没有注册令牌。", "No enrolment tokens yet."));
  return card(L("注册新设备", "Enrol a device"), form, err, out, h("h3", null, L("注册令牌", "Enrolment tokens")), list);
}

function desiredPanel(screen, device, models) {
  const succeeded = (m) => (m.versions || []).filter((v) => v.status === "succeeded");
  const usable = models.filter((m) => succeeded(m).length);
  const err = errorBox(null);
  if (!usable.length) {
    return card(L(`设置模型：${device.name}`, `Set model: ${device.name}`), h("p", { class: "muted" }, L("还没有训练完成的模型版本。", "No trained model version yet.")));
  }
  const model = h("select", { id: "desired-model" }, usable.map((m) => h("option", { value: m.id }, m.name)));
  const version = h("select", { id: "desired-version" });
  const fillVersions = () => {
    const m = usable.find((x) => x.id === model.value);
    fill(version, succeeded(m).sort((a, b) => b.version - a.version).map((v) =>
      h("option", { value: v.version }, `v${v.version} ${appTypeName(v.app_type)}`)));
  };
  model.addEventListener("change", fillVersions);
  const cur = modelRef(device.desired);
  if (cur && usable.some((m) => m.id === cur.id)) model.value = cur.id;
  fillVersions();
  const save = h("button", { type: "button", class: "btn btn-primary" }, L("下发", "Apply"));
  save.addEventListener("click", async () => {
    showError(err, null);
    save.disabled = true;
    try {
      await put(`/devices/${seg(device.id)}/desired`, { model_id: model.value, version: Number(version.value) });
      screen.reload();
    } catch (e) {
      showError(err, e);
      save.disabled = false;
    }
  });
  return card(L(`设置模型：${device.name}`, `Set model: ${device.name}`),
    h("div", { class: "form-row" }, h("label", null, L("模型", "Model"), model), h("label", null, L("版本", "Version"), version), save), err);
}

export async function devicesView(screen) {
  const groupFilter = screen.query.get("group") || "";
  const [res, mres, tres] = await Promise.all([
    get("/devices" + (groupFilter ? "?group=" + encodeURIComponent(groupFilter) : "")),
    get("/models"),
    get("/enrollment-tokens"),
  ]);
  const tokens = (tres && tres.items) || [];
  const devices = (res && res.items) || [];
  const models = (mres && mres.items) || [];
  const names = new Map(models.map((m) => [m.id, m.name]));
  const panel = h("div", { id: "desired-panel" });

  const group = h("input", { id: "device-group", value: groupFilter, placeholder: L("分组", "Group") });
  const filterForm = h("form", { class: "form-row" }, h("label", null, L("按分组筛选", "Filter by group"), group),
    h("button", { type: "submit", class: "btn" }, L("筛选", "Filter")));
  filterForm.addEventListener("submit", (e) => {
    e.preventDefault();
    location.hash = "#/devices" + (group.value.trim() ? "?group=" + encodeURIComponent(group.value.trim()) : "");
  });

  const rows = devices.map((d) => {
    const rep = modelRef(d.reported), want = modelRef(d.desired);
    const state = d.reported && d.reported.state ? ` · ${d.reported.state}` : "";
    const set = h("button", { type: "button", class: "btn btn-small" }, L("设置模型", "Set model"));
    set.addEventListener("click", () => {
      fill(panel, desiredPanel(screen, d, models));
      panel.scrollIntoView({ behavior: "smooth" });
    });
    return h("tr", { "data-device": d.id },
      h("td", null, d.name, h("div", { class: "muted small mono" }, d.id)),
      h("td", null, d.group || "–"),
      h("td", null, [d.os, d.arch].filter(Boolean).join("/") || "–"),
      h("td", null, d.agent_version || "–"),
      h("td", null, badge(d.online ? "online" : "offline"), h("div", { class: "muted small" }, when(d.last_seen))),
      h("td", null, refText(rep, names) + state, d.reported && d.reported.last_error ? h("div", { class: "error small" }, d.reported.last_error) : null),
      h("td", null, refText(want, names), want && rep && (want.id !== rep.id || want.version !== rep.version) ? h("div", { class: "muted small" }, L("下发中", "rolling out")) : null),
      h("td", null, set));
  });

  fill(screen.main,
    h("h1", null, L("设备", "Devices")),
    card(L("设备列表", "Devices"), filterForm,
      table([L("名称", "Name"), L("分组", "Group"), L("系统", "OS"), L("Agent 版本", "Agent"), L("在线", "Online"), L("运行模型", "Serving"), L("目标模型", "Desired"), L("操作", "Actions")],
        rows, L("还没有设备：生成注册令牌并在设备上运行注册命令。", "No devices yet: create an enrolment token and run the command on a device.")),
      h("button", { type: "button", class: "btn btn-small", onclick: () => screen.reload() }, L("刷新", "Refresh"))),
    panel,
    enrolCard(screen, tokens));
}
