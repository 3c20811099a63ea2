// 训练 Train new versions of a model: application types (one version each),
// the metric model selection optimises, and the labels of one or more
// datasets (添加训练数据). The server checks the rules (≥ 2 labels, ≥ 20
// images each) and its 4xx sentence is shown as it is.

import { h, fill, card, errorBox, showError } from "../dom.js";
import { L, APP_TYPE_IDS, METRIC_IDS, appTypeName, metricName } from "../i18n.js";
import { get, post, seg } from "../api.js";

const MIN_TRAINABLE = 20;

export async function trainView(screen, id) {
  const [m, dsRes] = await Promise.all([get("/models/" + seg(id)), get("/datasets")]);
  const datasets = ((dsRes && dsRes.items) || []).filter((d) => d.status === "ready");

  const types = APP_TYPE_IDS.map((t) => {
    const box = h("input", { type: "checkbox", name: "app_type", value: t, checked: t === "cloud-general" });
    return { t, box, node: h("label", { class: "check" }, box, appTypeName(t)) };
  });
  const metric = h("select", { id: "train-metric" }, METRIC_IDS.map((x) => h("option", { value: x, selected: x === "f1" }, metricName(x))));

  // chosen holds one block per added dataset: its id and label checkboxes.
  const chosen = new Map();
  const blocks = h("div", { id: "train-data" });
  const picker = h("select", { id: "train-dataset" },
    h("option", { value: "" }, L("选择数据集…", "Choose a dataset…")),
    datasets.map((d) => h("option", { value: d.id }, `${d.name} (${d.image_count ?? "?"})`)));
  const addErr = errorBox(null);
  const addBtn = h("button", { type: "button", class: "btn", id: "train-add-dataset" }, L("添加训练数据", "Add training data"));
  addBtn.addEventListener("click", async () => {
    showError(addErr, null);
    const dsID = picker.value;
    if (!dsID) {
      showError(addErr, new Error(L("请选择数据集", "Choose a dataset")));
      return;
    }
    if (chosen.has(dsID)) return;
    try {
      const d = await get("/datasets/" + seg(dsID));
      const boxes = (d.labels || []).map((l) => {
        const ok = l.trainable && l.count >= MIN_TRAINABLE;
        const box = h("input", { type: "checkbox", value: l.name, checked: ok, disabled: !ok, "data-label": l.name });
        return { box, node: h("label", { class: "check" + (ok ? "" : " muted") }, box, `${l.name} (${l.count})`,
          ok ? null : h("span", { class: "tag tag-bad" }, L(`少于 ${MIN_TRAINABLE} 张，不可训练`, `under ${MIN_TRAINABLE} images`))) };
      });
      const all = h("input", { type: "checkbox", checked: true });
      all.addEventListener("change", () => boxes.forEach((b) => { if (!b.box.disabled) b.box.checked = all.checked; }));
      const remove = h("button", { type: "button", class: "btn btn-small" }, L("移除", "Remove"));
      const block = h("fieldset", { class: "dataset-block", "data-dataset": dsID },
        h("legend", null, d.name),
        h("label", { class: "check" }, all, L("全选", "Select all")), remove,
        h("div", { class: "checks" }, boxes.map((b) => b.node)));
      remove.addEventListener("click", () => {
        chosen.delete(dsID);
        block.remove();
      });
      chosen.set(dsID, boxes);
      blocks.appendChild(block);
    } catch (e) {
      showError(addErr, e);
    }
  });

  const err = errorBox(null);
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "train-start" }, L("开始训练", "Start training"));
  const form = h("form", { class: "form" },
    card(L("应用类型", "Application type"),
      h("p", { class: "hint" }, L("可同时选择多种类型，每种类型产生一个新版本。云服务-通用与离线服务-通用效果一致；高精度更准但更慢，高性能更快。",
        "Pick one or more; each makes a new version. Cloud and offline \"general\" train the same recipe; high accuracy is more accurate but slower, high performance faster.")),
      h("div", { class: "checks", id: "train-app-types" }, types.map((x) => x.node))),
    card(L("应用场景（优化指标）", "Metric to optimise"), metric),
    card(L("训练分类", "Training labels"),
      h("p", { class: "hint" }, L("至少选择 2 个分类，且每个分类不少于 20 张图片。", "Choose at least 2 labels with 20 or more images each.")),
      h("div", { class: "form-row" }, picker, addBtn), addErr,
      datasets.length ? null : h("p", { class: "warn" }, h("a", { href: "#/datasets" }, L("还没有可用的数据集，请先在数据中心创建。", "No ready dataset yet: create one under Datasets."))),
      blocks),
    err, submit);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(err, null);
    const appTypes = types.filter((x) => x.box.checked).map((x) => x.t);
    const data = [];
    for (const [dsID, boxes] of chosen) {
      const labels = boxes.filter((b) => b.box.checked && !b.box.disabled).map((b) => b.box.value);
      if (labels.length) data.push({ dataset_id: dsID, labels });
    }
    if (!appTypes.length) {
      showError(err, new Error(L("请至少选择一种应用类型", "Choose at least one application type")));
      return;
    }
    if (!data.length) {
      showError(err, new Error(L("请添加训练数据并选择分类", "Add training data and choose labels")));
      return;
    }
    submit.disabled = true;
    try {
      await post(`/models/${seg(id)}/versions`, { app_types: appTypes, metric: metric.value, data });
      location.hash = "#/models/" + seg(id);
    } catch (e2) {
      showError(err, e2);
      submit.disabled = false;
    }
  });

  fill(screen.main,
    h("div", { class: "crumbs" }, h("a", { href: "#/models" }, L("模型列表", "Models")), " / ",
      h("a", { href: "#/models/" + seg(id) }, m.name), " / ", L("训练", "Train")),
    h("h1", null, L(`训练新版本：${m.name}`, `Train a new version: ${m.name}`)),
    form);
}
