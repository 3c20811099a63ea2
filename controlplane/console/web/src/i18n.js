// Language handling. The console speaks Chinese (zh-CN) first and English
// second: every user-facing string is written as a pair, L("中文", "English"),
// next to where it is used, so no string can miss its translation. The
// choice is remembered in localStorage; the default is zh-CN.

const STORAGE_KEY = "autocv_lang";
const listeners = new Set();

let current = readStored();

function readStored() {
  try {
    const v = localStorage.getItem(STORAGE_KEY);
    return v === "en" ? "en" : "zh-CN";
  } catch {
    return "zh-CN";
  }
}

/** lang returns the current language tag, "zh-CN" or "en". */
export function lang() {
  return current;
}

/** isZH reports whether the console currently speaks Chinese. */
export function isZH() {
  return current === "zh-CN";
}

/** setLang switches the language, remembers it and tells the listeners. */
export function setLang(l) {
  current = l === "en" ? "en" : "zh-CN";
  try {
    localStorage.setItem(STORAGE_KEY, current);
  } catch {
    // Private mode without storage: the choice lasts for this page only.
  }
  document.documentElement.lang = current;
  for (const fn of listeners) fn(current);
}

/** onLangChange registers fn to run after every language switch. */
export function onLangChange(fn) {
  listeners.add(fn);
}

/** L picks the string for the current language. */
export function L(zh, en) {
  return current === "en" ? en : zh;
}

/** pick picks from a {zh, en} pair such as a report verdict. */
export function pick(pair) {
  if (!pair) return "";
  return (current === "en" ? pair.en || pair.zh : pair.zh || pair.en) || "";
}

// Enumerations of the API, each value with its two names. Unknown values
// are shown as they came, so a newer server never makes the console blank.

const APP_TYPES = {
  "cloud-general": ["云服务-通用", "Cloud – general"],
  "cloud-high-accuracy": ["云服务-高精度", "Cloud – high accuracy"],
  "offline-general": ["离线服务-通用", "Offline – general"],
  "offline-high-performance": ["离线服务-高性能", "Offline – high performance"],
};

/** APP_TYPE_IDS lists the application types in the order users see them. */
export const APP_TYPE_IDS = Object.keys(APP_TYPES);

export function appTypeName(id) {
  const p = APP_TYPES[id];
  return p ? L(p[0], p[1]) : id || "";
}

const METRICS = {
  top1: ["Top1 准确率", "Top-1 accuracy"],
  top5: ["Top5 准确率", "Top-5 accuracy"],
  precision: ["精确率 precision", "Precision"],
  recall: ["召回率 recall", "Recall"],
  f1: ["F1-score", "F1 score"],
};

export const METRIC_IDS = Object.keys(METRICS);

export function metricName(id) {
  const p = METRICS[id];
  return p ? L(p[0], p[1]) : id || "";
}

const STATUSES = {
  processing: ["处理中", "Processing"],
  ready: ["已就绪", "Ready"],
  failed: ["失败", "Failed"],
  queued: ["排队中", "Queued"],
  training: ["训练中", "Training"],
  succeeded: ["训练完成", "Succeeded"],
  stopped: ["已停止", "Stopped"],
  starting: ["启动中", "Starting"],
  building: ["构建中", "Building"],
  online: ["在线", "Online"],
  offline: ["离线", "Offline"],
};

export function statusName(s) {
  const p = STATUSES[s];
  return p ? L(p[0], p[1]) : s || "";
}

const STAGES = {
  queued: ["排队", "queued"],
  download: ["下载图片", "downloading images"],
  checks: ["数据检查", "data checks"],
  split: ["划分数据", "splitting"],
  features: ["提取特征", "extracting features"],
  train: ["训练", "training"],
  search: ["参数搜索", "searching"],
  evaluate: ["评估", "evaluating"],
  export: ["导出", "exporting"],
  package: ["打包", "packaging"],
  upload: ["上传", "uploading"],
};

export function stageName(s) {
  const p = STAGES[s];
  return p ? L(p[0], p[1]) : s || "";
}

// Import skip reasons: protocol/imagerules' codes, the zip importer's own,
// and the spellings the API brief uses for some of them.
const REASONS = {
  unsupported_format: ["格式不支持（仅 jpg、jpeg、png、bmp）", "Unsupported format (jpg, jpeg, png, bmp only)"],
  too_large: ["文件过大（不能超过 4 MB）", "File too large (max 4 MB)"],
  bad_aspect_ratio: ["长宽比超过 3:1", "Aspect ratio over 3:1"],
  too_large_dimensions: ["尺寸过大（最长边须小于 4096 像素）", "Too big (longest side must be under 4096 px)"],
  too_long_side: ["尺寸过大（最长边须小于 4096 像素）", "Too big (longest side must be under 4096 px)"],
  too_small: ["尺寸过小（最短边须大于 30 像素）", "Too small (shortest side must be over 30 px)"],
  too_short_side: ["尺寸过小（最短边须大于 30 像素）", "Too small (shortest side must be over 30 px)"],
  corrupt: ["图片已损坏，无法解码", "Damaged image, cannot be decoded"],
  not_an_image: ["不是图片文件", "Not an image file"],
  empty_file: ["空文件", "Empty file"],
  unreadable: ["无法解压读取", "Could not be read from the zip"],
  duplicate: ["与同分类图片重复（保留第一张）", "Duplicate within the label (first copy kept)"],
  cross_label_duplicate: ["同一图片出现在多个分类中（全部忽略）", "Same image under several labels (all copies left out)"],
  nested_too_deep: ["目录层级过深（图片须直接放在分类文件夹下）", "Nested too deep (images must sit directly in a label folder)"],
  outside_label: ["不在分类文件夹中", "Not inside a label folder"],
  outside_label_folder: ["不在分类文件夹中", "Not inside a label folder"],
  bad_label: ["分类名不合法（仅限中文、字母、数字、下划线）", "Bad label name (Chinese, letters, digits, underscore only)"],
  bad_label_name: ["分类名不合法（仅限中文、字母、数字、下划线）", "Bad label name (Chinese, letters, digits, underscore only)"],
  bad_name: ["文件名无法解码（非 UTF-8 或 GBK）", "File name is neither UTF-8 nor GBK"],
  zip_slip: ["路径不安全（绝对路径或 ..），已拒绝", "Unsafe path (absolute or ..), refused"],
  symlink: ["符号链接，已拒绝", "Symbolic link, refused"],
  zip_bomb: ["疑似压缩炸弹，已拒绝", "Suspected zip bomb, refused"],
};

/** reasonName translates an import skip reason; unknown codes stay raw. */
export function reasonName(code) {
  const p = REASONS[code];
  return p ? L(p[0], p[1]) : code || "";
}
