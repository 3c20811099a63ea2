// 数据中心 Datasets: the list with 创建数据集 (name + zip, uploaded with a
// progress bar), a dataset's page (labels, import report, rename, add a
// zip, delete) and a label's paged thumbnail grid (add and delete images).

import { h, fill, table, card, badge, errorBox, showError, progressBar, when, bytes } from "../dom.js";
import { L, reasonName } from "../i18n.js";
import { get, patch, del, upload, seg } from "../api.js";

/** MIN_TRAINABLE and RECOMMENDED are the product's per-label image counts. */
const MIN_TRAINABLE = 20;
const RECOMMENDED = 100;
const MAX_ZIP = 5 * 1024 * 1024 * 1024;
const SKIPPED_SHOWN = 500;

// uploadBox is a file upload with its progress bar and error line; run()
// posts the form and resolves with the answer, or shows the error and
// resolves with null. While bytes are in flight, leaving the page asks first.
function uploadBox() {
  const bar = h("div", { class: "upload-progress", hidden: true });
  const err = errorBox(null);
  const guard = (e) => {
    e.preventDefault();
    e.returnValue = "";
  };
  return {
    nodes: [bar, err],
    async run(path, form) {
      showError(err, null);
      bar.hidden = false;
      fill(bar, progressBar(0, L("上传中 0%", "Uploading 0%")));
      window.addEventListener("beforeunload", guard);
      try {
        const answer = await upload(path, form, (f) => {
          const p = Math.round(f * 100);
          fill(bar, progressBar(p, p >= 100 ? L("上传完成，服务器处理中…", "Uploaded, the server is processing…") : L(`上传中 ${p}%`, `Uploading ${p}%`)));
        });
        bar.hidden = true;
        return answer || {};
      } catch (e) {
        bar.hidden = true;
        showError(err, e);
        return null;
      } finally {
        window.removeEventListener("beforeunload", guard);
      }
    },
  };
}

function zipRules() {
  return h("ul", { class: "hint" },
    h("li", null, L("压缩包仅支持 zip 格式，大小在 5GB 以内；文件夹名即分类名（中文、字母、数字或下划线），最多 1000 个分类。",
      "Zip only, up to 5 GB; each folder is a label (Chinese, letters, digits or underscore), at most 1000 labels.")),
    h("li", null, L("图片支持 jpg、jpeg、png、bmp，不超过 4MB，长宽比 3:1 以内，最长边小于 4096px，最短边大于 30px。",
      "Images: jpg, jpeg, png or bmp, at most 4 MB, aspect ratio within 3:1, longest side under 4096 px, shortest side over 30 px.")),
    h("li", null, L(`每个分类至少 ${MIN_TRAINABLE} 张图片才能参与训练，建议不少于 ${RECOMMENDED} 张。`,
      `A label needs at least ${MIN_TRAINABLE} images to be trained; ${RECOMMENDED} or more are recommended.`)));
}

function checkZip(file) {
  if (!file) return L("请选择 zip 压缩包", "Choose a zip file");
  if (!/\.zip$/i.test(file.name)) return L(`“${file.name}” 不是 zip 压缩包`, `"${file.name}" is not a zip file`);
  if (file.size > MAX_ZIP) return L(`“${file.name}” 超过 5GB`, `"${file.name}" is larger than 5 GB`);
  return "";
}

export async function datasetsView(screen) {
  const name = h("input", { id: "dataset-name", name: "name", maxlength: 100, placeholder: L("数据集名称", "Dataset name") });
  const file = h("input", { id: "dataset-file", name: "file", type: "file", accept: ".zip,application/zip" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "dataset-create" }, L("创建数据集", "Create dataset"));
  const box = uploadBox();
  const form = h("form", { class: "form" },
    h("label", null, L("数据集名称", "Dataset name"), name),
    h("label", null, L("压缩包", "Zip file"), file),
    zipRules(), ...box.nodes, submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const msg = !name.value.trim() ? L("请输入数据集名称", "Enter a dataset name") : checkZip(file.files[0]);
    if (msg) {
      showError(box.nodes[1], new Error(msg));
      return;
    }
    submit.disabled = true;
    const fd = new FormData();
    fd.append("name", name.value.trim());
    fd.append("file", file.files[0]);
    const answer = await box.run("/datasets", fd);
    submit.disabled = false;
    if (answer && answer.id) location.hash = "#/datasets/" + seg(answer.id);
  });

  const listBox = h("div");
  const loadList = async () => {
    const res = await get("/datasets");
    const items = (res && res.items) || [];
    fill(listBox, table(
      [L("名称", "Name"), L("状态", "Status"), L("图片数", "Images"), L("分类数", "Labels"), L("创建时间", "Created"), L("操作", "Actions")],
      items.map((d) => [
        h("a", { href: "#/datasets/" + seg(d.id), class: "dataset-link" }, d.name),
        badge(d.status),
        d.image_count ?? "–",
        d.label_count ?? "–",
        when(d.created_at),
        h("a", { href: "#/datasets/" + seg(d.id) }, L("查看", "View")),
      ]),
      L("还没有数据集，请先创建一个。", "No datasets yet: create one above.")));
    return items.some((d) => d.status === "processing");
  };
  const processing = await loadList();
  fill(screen.main,
    h("h1", null, L("数据中心 · 我的数据集", "Datasets")),
    card(L("创建数据集", "Create a dataset"), form),
    card(L("我的数据集", "My datasets"), listBox));
  if (processing) screen.every(3000, loadList);
}

function labelRow(id, l) {
  const state = !l.trainable || l.count < MIN_TRAINABLE
    ? h("span", { class: "tag tag-bad" }, L(`不可训练（少于 ${MIN_TRAINABLE} 张）`, `Not trainable (under ${MIN_TRAINABLE} images)`))
    : l.count < RECOMMENDED
      ? h("span", { class: "tag tag-warn" }, L(`可训练，建议不少于 ${RECOMMENDED} 张`, `Trainable; ${RECOMMENDED}+ recommended`))
      : h("span", { class: "tag tag-good" }, L("可训练", "Trainable"));
  const tr = h("tr", { class: l.trainable ? "" : "row-muted", "data-label": l.name },
    h("td", null, l.name),
    h("td", null, l.count),
    h("td", null, state),
    h("td", null, h("a", { href: `#/datasets/${seg(id)}/labels/${seg(l.name)}` }, L("查看 / 扩充", "View / add images"))));
  return tr;
}

function importReport(rep) {
  if (!rep) return h("p", { class: "muted" }, L("暂无导入报告", "No import report yet"));
  const accepted = Object.entries(rep.accepted || {});
  const skipped = rep.skipped || [];
  const total = accepted.reduce((n, [, c]) => n + c, 0);
  return h("div", { id: "import-report" },
    h("p", null, L(`已导入 ${total} 张图片，忽略 ${skipped.length} 个文件（不符合格式要求的内容会被忽略）。`,
      `${total} images imported, ${skipped.length} files skipped (files that break the rules are left out).`)),
    skipped.length
      ? table([L("文件", "File"), L("原因", "Reason"), L("说明", "Detail")],
        skipped.slice(0, SKIPPED_SHOWN).map((s) => h("tr", { class: "skipped-row", "data-reason": s.reason },
          h("td", { class: "mono" }, s.path),
          h("td", { class: "reason" }, reasonName(s.reason)),
          h("td", { class: "muted" }, s.detail || ""))))
      : null,
    skipped.length > SKIPPED_SHOWN
      ? h("p", { class: "muted" }, L(`仅显示前 ${SKIPPED_SHOWN} 条。`, `Showing the first ${SKIPPED_SHOWN}.`))
      : null);
}

export async function datasetView(screen, id) {
  const d = await get("/datasets/" + seg(id));
  const labels = d.labels || [];

  const rename = h("input", { id: "dataset-rename", value: d.name, maxlength: 100 });
  const renameErr = errorBox(null);
  const renameBtn = h("button", { type: "button", class: "btn" }, L("修改名称", "Rename"));
  renameBtn.addEventListener("click", async () => {
    showError(renameErr, null);
    if (!rename.value.trim()) {
      showError(renameErr, new Error(L("名称不能为空", "The name cannot be empty")));
      return;
    }
    try {
      await patch("/datasets/" + seg(id), { name: rename.value.trim() });
      screen.reload();
    } catch (e) {
      showError(renameErr, e);
    }
  });

  const zip = h("input", { type: "file", accept: ".zip,application/zip", id: "dataset-add-zip" });
  const zipBox = uploadBox();
  const zipBtn = h("button", { type: "button", class: "btn" }, L("上传并补充数据", "Upload and add"));
  zipBtn.addEventListener("click", async () => {
    const msg = checkZip(zip.files[0]);
    if (msg) {
      showError(zipBox.nodes[1], new Error(msg));
      return;
    }
    zipBtn.disabled = true;
    const fd = new FormData();
    fd.append("file", zip.files[0]);
    const answer = await zipBox.run(`/datasets/${seg(id)}/zips`, fd);
    zipBtn.disabled = false;
    if (answer) screen.reload();
  });

  const delErr = errorBox(null);
  const delBtn = h("button", { type: "button", class: "btn btn-danger", id: "dataset-delete" }, L("删除数据集", "Delete dataset"));
  delBtn.addEventListener("click", async () => {
    if (!confirm(L(`确定删除数据集“${d.name}”？此操作不可撤销。`, `Delete dataset "${d.name}"? This cannot be undone.`))) return;
    try {
      await del("/datasets/" + seg(id));
      location.hash = "#/datasets";
    } catch (e) {
      showError(delErr, e); // 409 while a training uses it: the server says which
    }
  });

  const few = labels.filter((l) => l.count < RECOMMENDED && l.count >= MIN_TRAINABLE).length;
  const untrainable = labels.filter((l) => !l.trainable).length;
  fill(screen.main,
    h("div", { class: "crumbs" }, h("a", { href: "#/datasets" }, L("数据中心", "Datasets")), " / ", d.name),
    h("h1", null, d.name, " ", h("span", { id: "dataset-status", "data-status": d.status }, badge(d.status))),
    d.status === "processing" ? h("p", { class: "notice" }, L("正在解析数据集，请稍候…", "The dataset is being imported, please wait…")) : null,
    d.status === "failed" ? errorBox(new Error(d.error || L("导入失败", "Import failed"))) : null,
    h("p", { class: "muted" }, L(`${d.image_count ?? "–"} 张图片 · ${labels.length} 个分类 · 创建于 ${when(d.created_at)}`,
      `${d.image_count ?? "–"} images · ${labels.length} labels · created ${when(d.created_at)}`)),
    card(L("分类", "Labels"),
      untrainable ? h("p", { class: "warn" }, L(`${untrainable} 个分类少于 ${MIN_TRAINABLE} 张图片，不能参与训练。`, `${untrainable} label(s) have fewer than ${MIN_TRAINABLE} images and cannot be trained.`)) : null,
      few ? h("p", { class: "warn" }, L(`${few} 个分类少于 ${RECOMMENDED} 张图片，建议补充数据以保证训练效果。`, `${few} label(s) have fewer than ${RECOMMENDED} images; add more for a better model.`)) : null,
      h("div", { id: "labels-table" }, table([L("分类", "Label"), L("图片数", "Images"), L("训练", "Training"), L("操作", "Actions")],
        labels.map((l) => labelRow(id, l)), L("暂无分类", "No labels")))),
    card(L("导入报告", "Import report"), importReport(d.import_report)),
    card(L("管理", "Manage"),
      h("div", { class: "form-row" }, h("label", null, L("数据集名称", "Dataset name"), rename), renameBtn), renameErr,
      h("div", { class: "form-row" }, h("label", null, L("补充数据（zip）", "Add a zip"), zip), zipBtn), ...zipBox.nodes,
      h("div", { class: "form-row" }, delBtn), delErr));

  if (d.status === "processing") {
    screen.every(2000, async () => {
      const now = await get("/datasets/" + seg(id));
      if (now.status !== "processing") {
        screen.reload();
        return false;
      }
      return true;
    });
  }
}

const PAGE_SIZE = 40;

export async function labelView(screen, id, label) {
  const page = Math.max(1, parseInt(screen.query.get("page") || "1", 10) || 1);
  const [d, res] = await Promise.all([
    get("/datasets/" + seg(id)),
    get(`/datasets/${seg(id)}/labels/${seg(label)}/images?page=${page}&page_size=${PAGE_SIZE}`),
  ]);
  const items = (res && res.items) || [];
  const total = res.total || 0;
  const pages = Math.max(1, Math.ceil(total / (res.page_size || PAGE_SIZE)));
  const base = `#/datasets/${seg(id)}/labels/${seg(label)}`;

  const files = h("input", { type: "file", multiple: true, accept: ".jpg,.jpeg,.png,.bmp,image/jpeg,image/png,image/bmp", id: "label-add-images" });
  const box = uploadBox();
  const result = h("div");
  const addBtn = h("button", { type: "button", class: "btn" }, L("添加图片", "Add images"));
  addBtn.addEventListener("click", async () => {
    if (!files.files.length) {
      showError(box.nodes[1], new Error(L("请选择图片", "Choose images")));
      return;
    }
    const fd = new FormData();
    for (const f of files.files) fd.append("file", f);
    addBtn.disabled = true;
    const answer = await box.run(`/datasets/${seg(id)}/labels/${seg(label)}/images`, fd);
    addBtn.disabled = false;
    if (!answer) return;
    const skipped = answer.skipped || (answer.import_report && answer.import_report.skipped) || [];
    if (skipped.length) {
      fill(result, h("p", { class: "warn" }, L("以下文件未添加：", "These files were not added:")),
        table([L("文件", "File"), L("原因", "Reason"), L("说明", "Detail")],
          skipped.map((s) => [h("span", { class: "mono" }, s.path || s.file || ""), reasonName(s.reason), s.detail || ""])),
        h("button", { type: "button", class: "btn btn-small", onclick: () => screen.reload() }, L("刷新", "Refresh")));
    } else {
      screen.reload();
    }
  });

  const grid = h("div", { class: "thumb-grid", id: "label-images" },
    items.length ? items.map((img) => {
      const rm = h("button", { type: "button", class: "btn btn-small btn-danger" }, L("删除", "Delete"));
      const err = errorBox(null);
      rm.addEventListener("click", async () => {
        if (!confirm(L("确定删除这张图片？", "Delete this image?"))) return;
        try {
          await del(`/datasets/${seg(id)}/images/${seg(img.id)}`);
          screen.reload();
        } catch (e) {
          showError(err, e);
        }
      });
      return h("figure", { class: "thumb" },
        h("a", { href: img.url, target: "_blank", rel: "noopener" }, h("img", { src: img.thumbnail_url, alt: img.label || label, loading: "lazy" })),
        h("figcaption", null, `${img.width}×${img.height} · ${bytes(img.size)}`, img.source ? h("div", { class: "muted small" }, img.source) : null, rm, err));
    }) : h("p", { class: "muted" }, L("该分类下没有图片", "No images in this label")));

  const pager = h("div", { class: "pager" },
    page > 1 ? h("a", { class: "btn btn-small", href: `${base}?page=${page - 1}` }, L("上一页", "Previous")) : null,
    h("span", null, L(`第 ${page} / ${pages} 页，共 ${total} 张`, `Page ${page} of ${pages}, ${total} images`)),
    page < pages ? h("a", { class: "btn btn-small", href: `${base}?page=${page + 1}` }, L("下一页", "Next")) : null);

  fill(screen.main,
    h("div", { class: "crumbs" }, h("a", { href: "#/datasets" }, L("数据中心", "Datasets")), " / ",
      h("a", { href: "#/datasets/" + seg(id) }, d.name), " / ", label),
    h("h1", null, L(`分类：${label}`, `Label: ${label}`)),
    card(L("在分类中添加图片", "Add images to this label"), h("div", { class: "form-row" }, files, addBtn), ...box.nodes, result),
    card(L("图片", "Images"), pager, grid, pager.cloneNode(true)));
}
