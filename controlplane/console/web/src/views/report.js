// 评估报告 Evaluation report of a version: verdict, headline metrics, per-label
// scores, the confusion matrix, misclassified images, thresholds, data
// checks and split sizes (DESIGN.md "Evaluation report JSON").

import { h, fill, table, card, pct, num, duration } from "../dom.js";
import { L, pick, appTypeName, metricName } from "../i18n.js";
import { get, seg, BASE } from "../api.js";

const MATRIX_MAX = 60; // labels beyond this make the matrix unreadable
const MISCLASSIFIED_MAX = 200;

function metricCard(name, value, id) {
  return h("div", { class: "metric", "data-metric": id }, h("div", { class: "metric-value" }, value), h("div", { class: "metric-name" }, name));
}

function metrics(m) {
  const topk = m.topk || [];
  return h("div", { class: "metrics", id: "report-metrics" },
    metricCard(L("准确率", "Accuracy"), pct(m.accuracy), "accuracy"),
    metricCard(L("精确率", "Precision"), pct(m.precision), "precision"),
    metricCard(L("召回率", "Recall"), pct(m.recall), "recall"),
    metricCard("F1-score", pct(m.f1), "f1"),
    metricCard("AUC", pct(m.auc), "auc"),
    metricCard("Kappa", pct(m.kappa), "kappa"),
    topk.map((x, i) => metricCard(`Top${i + 1} ${L("准确率", "accuracy")}`, pct(x), "top" + (i + 1))));
}

// confusion draws the matrix with each cell shaded by its share of the row
// (the true label): green on the diagonal, red off it.
function confusion(c) {
  const labels = c.labels || [];
  const matrix = c.matrix || [];
  if (!labels.length) return h("p", { class: "muted" }, L("无混淆矩阵", "No confusion matrix"));
  if (labels.length > MATRIX_MAX) {
    return h("p", { class: "muted" }, L(`分类超过 ${MATRIX_MAX} 个，混淆矩阵不再显示；请看各分类指标与识别错误图片。`,
      `More than ${MATRIX_MAX} labels: the matrix is not drawn; see the per-label table and the misclassified images.`));
  }
  const rows = labels.map((t, i) => {
    const row = matrix[i] || [];
    const sum = row.reduce((a, b) => a + b, 0) || 1;
    return h("tr", null, h("th", { class: "row-head" }, t), labels.map((_, j) => {
      const n = row[j] || 0;
      const a = n / sum;
      const color = i === j ? `rgba(22, 163, 74, ${0.1 + 0.8 * a})` : n ? `rgba(220, 38, 38, ${0.15 + 0.75 * a})` : "transparent";
      return h("td", { class: "cm-cell", title: `${t} → ${labels[j]}: ${n}`, style: { backgroundColor: color, color: a > 0.6 ? "#fff" : "" } }, n);
    }));
  });
  return h("div", { class: "table-wrap" },
    h("table", { class: "confusion", id: "confusion-matrix" },
      h("thead", null, h("tr", null, h("th", { class: "corner" }, L("真实 \\ 预测", "true \\ predicted")), labels.map((l) => h("th", { class: "col-head" }, l)))),
      h("tbody", null, rows)));
}

function misclassified(list) {
  if (!list || !list.length) return h("p", { class: "muted" }, L("测试集中没有识别错误的图片。", "No test image was misclassified."));
  const labels = [...new Set(list.map((x) => x.true_label))].sort();
  const grid = h("div", { class: "thumb-grid", id: "misclassified" });
  const draw = (label) => fill(grid, list.filter((x) => !label || x.true_label === label).slice(0, MISCLASSIFIED_MAX).map((x) =>
    h("figure", { class: "thumb misclassified" },
      h("img", { src: `${BASE}/images/${seg(x.image_id)}/thumbnail`, alt: x.path || x.image_id, loading: "lazy", title: x.path || "" }),
      h("figcaption", null, h("div", null, h("span", { class: "true-label" }, x.true_label), " → ", h("span", { class: "pred-label" }, x.predicted_label)),
        h("div", { class: "muted small" }, L("置信度 ", "confidence ") + pct(x.confidence))))));
  const filter = h("select", null, h("option", { value: "" }, L("全部分类", "All labels")), labels.map((l) => h("option", { value: l }, l)));
  filter.addEventListener("change", () => draw(filter.value));
  draw("");
  return h("div", null,
    h("p", { class: "hint" }, L("分标签查看识别错误的图片，寻找共性，有针对性地扩充训练数据。", "Look for what the misclassified images of a label have in common, then add images like them.")),
    h("div", { class: "form-row" }, filter, list.length > MISCLASSIFIED_MAX ? h("span", { class: "muted" }, L(`最多显示 ${MISCLASSIFIED_MAX} 张`, `showing at most ${MISCLASSIFIED_MAX}`)) : null),
    grid);
}

function dataChecks(dc) {
  if (!dc) return h("p", { class: "muted" }, "–");
  const im = dc.imbalance || {};
  const groups = (list) => (list || []).map((g) => [
    h("span", { class: "mono" }, (g.paths || []).join("\n")),
    (g.labels || []).join(", "),
    g.similarity !== undefined ? pct(g.similarity) : "",
  ]);
  const sections = [
    h("p", null, im.smallest_label
      ? L(`分类最大/最小比例 ${num(im.max_ratio, 1)}：最多 ${im.largest_label}（${im.largest_count} 张），最少 ${im.smallest_label}（${im.smallest_count} 张）。`,
        `Largest/smallest label ratio ${num(im.max_ratio, 1)}: ${im.largest_label} has ${im.largest_count}, ${im.smallest_label} has ${im.smallest_count}.`)
      : L("无不平衡数据。", "No imbalance data."))];
  const block = (title, list, headers) => {
    if (!list || !list.length) return h("p", null, title, ": ", h("span", { class: "tag tag-good" }, L("未发现", "none found")));
    return h("details", null, h("summary", null, `${title}: ${list.length}`), table(headers, groups(list)));
  };
  const pathsHeaders = [L("文件", "Files"), L("分类", "Labels"), L("相似度", "Similarity")];
  sections.push(
    block(L("重复图片", "Duplicates"), dc.duplicates, pathsHeaders),
    block(L("跨分类重复", "Same image under several labels"), dc.cross_label, pathsHeaders),
    block(L("近似重复", "Near duplicates"), dc.near_duplicates, pathsHeaders));
  const sus = dc.suspected_mislabels || [];
  sections.push(sus.length
    ? h("details", null, h("summary", null, `${L("疑似标注错误", "Suspected mislabels")}: ${sus.length}`),
      table([L("图片", "Image"), L("标注", "Label"), L("模型认为", "Model says"), L("置信度", "Confidence")],
        sus.map((s) => [
          h("img", { class: "mini", src: `${BASE}/images/${seg(s.image_id)}/thumbnail`, alt: s.path || s.image_id, loading: "lazy", title: s.path || "" }),
          `${s.label} (${pct(s.label_confidence)})`, s.predicted, pct(s.confidence)])))
    : h("p", null, L("疑似标注错误", "Suspected mislabels"), ": ", h("span", { class: "tag tag-good" }, L("未发现", "none found"))));
  return h("div", null, sections);
}

export async function reportView(screen, id, version) {
  const base = `/models/${seg(id)}/versions/${version}`;
  const [m, r] = await Promise.all([get("/models/" + seg(id)), get(base + "/report")]);
  const v = r.verdict || {};
  const thresholds = r.thresholds || {};
  const perLabelThr = thresholds.per_label || {};
  const split = r.split || {};
  const qualityClass = { excellent: "good", good: "good", fair: "warn", poor: "bad" }[v.quality] || "warn";

  fill(screen.main,
    h("div", { class: "crumbs" }, h("a", { href: "#/models" }, L("模型列表", "Models")), " / ",
      h("a", { href: "#/models/" + seg(id) }, m.name), " / ", `v${version}`, " / ", L("评估报告", "Evaluation report")),
    h("h1", null, L(`评估报告：${m.name} v${version}`, `Evaluation report: ${m.name} v${version}`)),
    h("p", { class: "muted" }, [appTypeName(r.app_type), r.metric ? L(` · 优化指标 ${metricName(r.metric)}`, ` · optimised for ${metricName(r.metric)}`) : "", r.backbone ? ` · ${r.backbone}` : ""]),
    h("section", { class: "card verdict verdict-" + qualityClass, id: "verdict" },
      h("h2", null, L("基本结论", "Verdict")),
      h("p", { class: "verdict-text" }, pick(v)),
      v.small_test ? h("p", { class: "warn" }, L("测试集图片较少，评估结果仅供参考；建议补充数据，或发布为 API 后批量测试。", "The test split is small, so these figures are rough; add data, or publish as an API and test in bulk.")) : null,
      h("div", { class: "form-row" },
        h("a", { class: "btn", href: `${BASE}${base}/package`, download: "", id: "download-package" }, L("下载模型包", "Download package")),
        h("a", { class: "btn", href: `#/models/${seg(id)}/versions/${version}/validate` }, L("校验", "Validate")),
        h("a", { class: "btn", href: `#/models/${seg(id)}/versions/${version}/publish` }, L("发布", "Publish")))),
    card(L("整体评估", "Overall"), metrics(r.metrics || {}),
      h("p", { class: "hint" }, L("指标基于不参与训练的测试集计算。更希望减少误识别请关注精确率，更希望减少漏识别请关注召回率；F1-score 兼顾二者，越接近 100% 越好。",
        "Figures are on the held-out test split. Care about precision to avoid false alarms, recall to avoid misses; F1 balances both, closer to 100% is better."))),
    card(L("数据划分", "Split"),
      h("p", { id: "split" }, L(`训练集 ${split.train ?? "–"} 张 · 验证集 ${split.validation ?? "–"} 张 · 测试集 ${split.test ?? "–"} 张`,
        `train ${split.train ?? "–"} · validation ${split.validation ?? "–"} · test ${split.test ?? "–"} images`))),
    card(L("各分类评估", "Per label"), table(
      [L("分类", "Label"), L("精确率", "Precision"), L("召回率", "Recall"), "F1", "AUC", L("测试图片数", "Test images"), L("置信度阈值", "Threshold")],
      (r.per_label || []).map((x) => [x.label, pct(x.precision), pct(x.recall), pct(x.f1), pct(x.auc), x.support, perLabelThr[x.label] !== undefined ? pct(perLabelThr[x.label]) : "–"])),
      h("p", { class: "hint" }, L(`全局置信度阈值：${pct(thresholds.global)}（top1 置信度达到此值时结果较可信）`,
        `Global confidence threshold: ${pct(thresholds.global)} (a top-1 answer at or above it is worth acting on)`))),
    card(L("混淆矩阵", "Confusion matrix"), confusion(r.confusion || {})),
    card(L("识别错误图片示例", "Misclassified images"), misclassified(r.misclassified)),
    card(L("训练集", "Training set"), table(
      [L("分类", "Label"), L("图片数", "Images"), L("训练", "Train"), L("验证", "Validation"), L("测试", "Test"), L("数据来源", "Sources")],
      (r.training_set || []).map((s) => [s.label, s.images, s.train, s.validation, s.test,
        Object.entries(s.sources || {}).map(([k, n]) => `${k}: ${n}`).join(", ")]))),
    card(L("数据检查", "Data checks"), dataChecks(r.data_checks)),
    card(L("候选模型", "Candidates"), table(
      [L("名称", "Name"), L("类型", "Kind"), metricName(r.metric || "f1"), L("训练轮数", "Epochs"), L("用时", "Time"), L("选中", "Chosen")],
      (r.candidates || []).map((c) => h("tr", { class: c.chosen ? "row-chosen" : "" },
        h("td", { class: "mono" }, c.name), h("td", null, c.kind), h("td", null, pct((c.scores || {})[r.metric || "f1"])),
        h("td", null, c.epochs ?? "–"), h("td", null, duration(c.seconds)), h("td", null, c.chosen ? "✓" : ""))))),
    card(L("耗时", "Timings"), h("p", null, Object.entries(r.timings || {}).map(([k, s]) => `${k} ${duration(s)}`).join(" · ") || "–")));
}
