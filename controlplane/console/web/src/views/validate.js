// 校验 Validate a version: start its validation service on the control
// plane, wait until it is ready, then upload up to 10 images and show each
// one with its top-5 labels and confidences.

import { h, fill, card, badge, errorBox, showError, pct } from "../dom.js";
import { L, appTypeName } from "../i18n.js";
import { get, post, seg } from "../api.js";

const MAX_IMAGES = 10;
const TOP_K = 5;

function bars(predictions) {
  const top = (predictions || []).slice(0, TOP_K);
  if (!top.length) return h("p", { class: "muted" }, L("没有结果", "No result"));
  return h("div", { class: "bars" }, top.map((p, i) =>
    h("div", { class: "bar-row" + (i === 0 ? " top" : "") },
      h("span", { class: "bar-label" }, p.label),
      h("div", { class: "bar" }, h("div", { class: "bar-fill", style: { width: Math.max(0, Math.min(100, p.confidence * 100)) + "%" } })),
      h("span", { class: "bar-value" }, pct(p.confidence, 2)))));
}

export async function validateView(screen, id, version) {
  const base = `/models/${seg(id)}/versions/${version}`;
  const [m, v] = await Promise.all([get("/models/" + seg(id)), get(base)]);
  const stateBox = h("div", { id: "validation-state" });
  const err = errorBox(null);
  const work = h("div", { id: "validation-work", hidden: true });
  const urls = [];
  screen.onLeave(() => urls.forEach((u) => URL.revokeObjectURL(u)));

  const files = h("input", { type: "file", multiple: true, accept: ".jpg,.jpeg,.png,.bmp,image/jpeg,image/png,image/bmp", id: "validate-files" });
  const previews = h("div", { class: "result-grid", id: "validate-results" });
  const run = h("button", { type: "button", class: "btn btn-primary", id: "validate-run", disabled: true }, L("上传并校验", "Upload and validate"));
  const runErr = errorBox(null);
  let chosen = [];
  let cards = [];

  files.addEventListener("change", () => {
    showError(runErr, null);
    urls.splice(0).forEach((u) => URL.revokeObjectURL(u));
    chosen = [...files.files];
    if (chosen.length > MAX_IMAGES) {
      showError(runErr, new Error(L(`最多选择 ${MAX_IMAGES} 张图片，已选 ${chosen.length} 张`, `Choose at most ${MAX_IMAGES} images; ${chosen.length} chosen`)));
      chosen = [];
    }
    cards = chosen.map((f) => {
      const url = URL.createObjectURL(f);
      urls.push(url);
      const result = h("div", { class: "result-body" }, h("p", { class: "muted" }, L("待校验", "Waiting")));
      return { node: h("figure", { class: "result-card" }, h("img", { src: url, alt: f.name }), h("figcaption", null, h("div", { class: "name" }, f.name), result)), result };
    });
    fill(previews, cards.map((c) => c.node));
    run.disabled = chosen.length === 0;
  });

  run.addEventListener("click", async () => {
    showError(runErr, null);
    if (!chosen.length) return;
    const fd = new FormData();
    for (const f of chosen) fd.append("file", f, f.name);
    run.disabled = true;
    cards.forEach((c) => fill(c.result, h("p", { class: "muted" }, L("识别中…", "Predicting…"))));
    try {
      const res = await post(base + "/validation/predict", fd);
      const results = (res && res.results) || (res && res.predictions ? [res] : []);
      cards.forEach((c, i) => {
        const r = results[i];
        if (!r) fill(c.result, h("p", { class: "error" }, L("没有返回结果", "No result returned")));
        else if (r.error) fill(c.result, h("p", { class: "error" }, r.error));
        else fill(c.result, bars(r.predictions));
      });
    } catch (e) {
      showError(runErr, e);
      cards.forEach((c) => fill(c.result, h("p", { class: "muted" }, L("失败", "Failed"))));
    } finally {
      run.disabled = chosen.length === 0;
    }
  });

  fill(work, card(L("选择图片", "Choose images"),
    h("p", { class: "hint" }, L(`点击选择图片，最多 ${MAX_IMAGES} 张（jpg、jpeg、png、bmp），然后上传校验。`, `Pick up to ${MAX_IMAGES} images (jpg, jpeg, png, bmp), then upload them.`)),
    h("div", { class: "form-row" }, files, run), runErr, previews));

  const start = h("button", { type: "button", class: "btn btn-primary", id: "validation-start" }, L("启动模型校验服务", "Start the validation service"));
  const show = (status, message) => {
    const ready = status === "ready";
    work.hidden = !ready;
    fill(stateBox,
      h("p", null, L("校验服务：", "Validation service: "), h("span", { id: "validation-status", "data-status": status || "none" },
        status ? badge(status) : h("span", { class: "muted" }, L("未启动", "not started")))),
      status === "starting" ? h("p", { class: "muted" }, L("正在加载模型，请稍候…", "Loading the model, please wait…")) : null,
      message ? h("p", { class: "error" }, message) : null,
      !status || status === "failed" || status === "stopped" ? start : null);
  };
  const poll = () => screen.every(1500, async () => {
    const s = await get(base + "/validation");
    show(s.status, s.error);
    return s.status === "starting";
  });
  start.addEventListener("click", async () => {
    showError(err, null);
    start.disabled = true;
    try {
      const s = await post(base + "/validation");
      show((s && s.status) || "starting", s && s.error);
      if (!s || s.status !== "ready") poll();
    } catch (e) {
      showError(err, e);
    } finally {
      start.disabled = false;
    }
  });

  let status = null, message = "";
  try {
    const s = await get(base + "/validation");
    status = s.status;
    message = s.error || "";
  } catch (e) {
    if (e.status !== 404) throw e; // 404: not started yet
  }
  show(status, message);
  if (status === "starting") poll();

  fill(screen.main,
    h("div", { class: "crumbs" }, h("a", { href: "#/models" }, L("模型列表", "Models")), " / ",
      h("a", { href: "#/models/" + seg(id) }, m.name), " / ", `v${version}`, " / ", L("校验", "Validate")),
    h("h1", null, L(`模型校验：${m.name} v${version}`, `Validate: ${m.name} v${version}`)),
    h("p", { class: "muted" }, appTypeName(v.app_type)),
    card(L("校验服务", "Validation service"), stateBox, err),
    work);
}
