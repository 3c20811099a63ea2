// Language handling. The console speaks Chinese (zh-CN) first and English
// second. Every string is written as a pair, L("中文", "English"), next to
// where it is used, so none can miss its translation; the tables below name
// the API's enumerations and error codes. The choice lives in a reactive
// ref (templates re-render on a switch) and in localStorage; zh-CN is the
// default.

import { ref } from "vue";

export type Lang = "zh-CN" | "en";

const STORAGE_KEY = "autocv_lang";

function readStored(): Lang {
  try {
    return localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "zh-CN";
  } catch {
    return "zh-CN";
  }
}

/** lang is the current language; templates that read it re-render on a switch. */
export const lang = ref<Lang>(readStored());

export function setLang(l: Lang) {
  lang.value = l === "en" ? "en" : "zh-CN";
  try {
    localStorage.setItem(STORAGE_KEY, lang.value);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
  document.documentElement.lang = lang.value;
}

/** L picks the string for the current language. */
export function L(zh: string, en: string): string {
  return lang.value === "en" ? en : zh;
}

type Pair = readonly [string, string];

function named(table: Record<string, Pair>, id: string | undefined | null): string {
  const p = id ? table[id] : undefined;
  return p ? L(p[0], p[1]) : id || "";
}

/** pick chooses from a {zh, en} pair such as a report verdict. */
export function pick(pair?: { zh?: string; en?: string } | null): string {
  if (!pair) return "";
  return (lang.value === "en" ? pair.en || pair.zh : pair.zh || pair.en) || "";
}

const APP_TYPES: Record<string, Pair> = {
  "cloud-general": ["云服务-通用", "Cloud – general"],
  "cloud-high-accuracy": ["云服务-高精度", "Cloud – high accuracy"],
  "offline-general": ["离线服务-通用", "Offline – general"],
  "offline-high-performance": ["离线服务-高性能", "Offline – high performance"],
};
export const APP_TYPE_IDS = Object.keys(APP_TYPES);
export const appTypeName = (id?: string) => named(APP_TYPES, id);

const METRICS: Record<string, Pair> = {
  top1: ["Top-1 准确率", "Top-1 accuracy"],
  top5: ["Top-5 准确率", "Top-5 accuracy"],
  precision: ["精确率", "Precision"],
  recall: ["召回率", "Recall"],
  f1: ["F1 值", "F1 score"],
  accuracy: ["准确率", "Accuracy"],
};
export const METRIC_IDS = ["top1", "top5", "precision", "recall", "f1"];
export const metricName = (id?: string) => named(METRICS, id);

const STATUSES: Record<string, Pair> = {
  processing: ["导入中", "Importing"],
  ready: ["已就绪", "Ready"],
  failed: ["失败", "Failed"],
  queued: ["排队中", "Queued"],
  training: ["训练中", "Training"],
  stopping: ["停止中", "Stopping"],
  succeeded: ["训练完成", "Succeeded"],
  stopped: ["已停止", "Stopped"],
  starting: ["启动中", "Starting"],
  building: ["构建中", "Building"],
  loading: ["加载中", "Loading"],
  online: ["在线", "Online"],
  offline: ["离线", "Offline"],
  // Device states (protocol/fleet).
  idle: ["空闲", "Idle"],
  downloading: ["下载中", "Downloading"],
  verifying: ["校验中", "Verifying"],
  swapping: ["切换中", "Swapping"],
  serving: ["运行中", "Serving"],
  rolling_back: ["回滚中", "Rolling back"],
};
export const statusName = (s?: string) => named(STATUSES, s);

/** statusType is the Element Plus tag colour of a status. */
export function statusType(s?: string): "success" | "warning" | "danger" | "info" | "primary" {
  switch (s) {
    case "ready":
    case "succeeded":
    case "online":
    case "serving":
      return "success";
    case "failed":
      return "danger";
    case "stopped":
    case "offline":
    case "idle":
      return "info";
    case "processing":
    case "training":
    case "building":
    case "starting":
    case "loading":
    case "downloading":
      return "primary";
    default:
      return "warning";
  }
}

const STAGES: Record<string, Pair> = {
  queued: ["排队", "Queued"],
  importing: ["解析图片", "Reading images"],
  recording: ["写入记录", "Recording"],
  download: ["下载图片", "Downloading images"],
  checks: ["数据检查", "Data checks"],
  split: ["划分数据", "Splitting"],
  features: ["提取特征", "Extracting features"],
  train: ["训练", "Training"],
  search: ["参数搜索", "Searching"],
  evaluate: ["评估", "Evaluating"],
  export: ["导出", "Exporting"],
  package: ["打包", "Packaging"],
  upload: ["上传", "Uploading"],
};
export const stageName = (s?: string) => named(STAGES, s);

// Keys of the report's timings (trainer/train.go).
const TIMINGS: Record<string, Pair> = {
  features: ["提取特征", "Feature extraction"],
  features_decode_cpu: ["解码图片（CPU 时间）", "Image decoding (CPU time)"],
  features_model: ["骨干网络推理", "Backbone inference"],
  train: ["训练分类头", "Training the head"],
  evaluate: ["评估", "Evaluation"],
  export: ["导出模型", "Export"],
  total: ["总计", "Total"],
};
export const timingName = (k: string) => named(TIMINGS, k);

// Hyper-parameters of a candidate head (trainer/head).
const PARAMS: Record<string, Pair> = {
  lr: ["学习率", "learning rate"],
  l2: ["权重衰减", "weight decay"],
  label_smoothing: ["标签平滑", "label smoothing"],
  max_epochs: ["最多轮数", "max epochs"],
  patience: ["早停耐心", "patience"],
  batch_size: ["批大小", "batch size"],
  hidden: ["隐藏单元", "hidden units"],
  unbalanced: ["不平衡采样", "unbalanced"],
};
export const paramName = (k: string) => named(PARAMS, k);
const KINDS: Record<string, Pair> = {
  softmax: ["线性分类头", "Linear head"],
  mlp: ["两层神经网络", "Two-layer network"],
};
export const kindName = (k?: string) => named(KINDS, k);

// Import skip reasons: protocol/imagerules' codes and the zip importer's own.
const REASONS: Record<string, Pair> = {
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
  bad_label: ["分类名不合法", "Bad label name"],
  bad_label_name: ["分类名不合法", "Bad label name"],
  bad_name: ["文件名无法解码（非 UTF-8 或 GBK）", "File name is neither UTF-8 nor GBK"],
  zip_slip: ["路径不安全（绝对路径或 ..），已拒绝", "Unsafe path (absolute or ..), refused"],
  symlink: ["符号链接，已拒绝", "Symbolic link, refused"],
  zip_bomb: ["疑似压缩炸弹，已拒绝", "Suspected zip bomb, refused"],
  too_many_labels: ["分类数超过上限", "Too many labels"],
};
export const reasonName = (code?: string) => named(REASONS, code);

// Error codes of protocol/api/errors.go. The server's own sentence is in
// English; the console shows the code's sentence in the user's language
// and keeps the server's text as a detail line for the few codes whose
// message names the field.
const ERRORS: Record<string, Pair> = {
  empty_body: ["请求中没有图片", "The request carries no image"],
  not_an_image: ["不是图片文件", "Not an image file"],
  unsupported_format: ["图片格式不支持（仅 jpg、png、bmp）", "Unsupported image format (jpg, png, bmp only)"],
  corrupt: ["图片已损坏，无法解码", "The image is damaged and cannot be decoded"],
  too_large: ["文件过大", "The file is too large"],
  too_many_files: ["一次上传的文件过多", "Too many files in one request"],
  no_files: ["请选择文件", "No file was sent"],
  bad_form: ["表单格式错误", "The form could not be read"],
  bad_top_k: ["top_k 须为不小于 1 的整数", "top_k must be a whole number of at least 1"],
  bad_threshold: ["阈值须在 0 到 1 之间", "The threshold must be between 0 and 1"],
  bad_request: ["请求有误", "Bad request"],
  unauthenticated: ["登录已过期，请重新登录", "Your session has ended: please log in again"],
  forbidden: ["没有权限执行此操作", "You may not do this"],
  not_found: ["找不到该对象，可能已被删除", "Not found: it may have been deleted"],
  method_not_allowed: ["服务器不支持该操作", "The server does not support this action"],
  busy: ["服务器繁忙，请稍后重试", "The server is busy: try again shortly"],
  offline: ["服务已下线", "The service is offline"],
  model_unavailable: ["模型未加载或正在重启，请稍后重试", "The model is not loaded or is restarting: try again shortly"],
  timeout: ["请求超时", "The request timed out"],
  inference_failed: ["模型推理失败", "The model failed on this request"],
  internal: ["服务器内部错误", "Internal server error"],
  invalid: ["填写的内容不符合要求", "A field breaks its rule"],
  invalid_json: ["请求格式错误", "The request is not valid JSON"],
  invalid_multipart: ["上传的表单无法解析", "The upload form could not be read"],
  invalid_name: [
    "名称不符合规则：1–64 个字符，可用中文、字母、数字、下划线、连字符、点和中间的空格",
    "Bad name: 1–64 characters of letters (Chinese included), digits, _, -, . and inner spaces",
  ],
  invalid_app_type: ["应用类型无效", "Unknown application type"],
  invalid_metric: ["优化指标无效", "Unknown metric"],
  invalid_path: ["接口地址不符合规则：字母、数字、- 或 _", "Bad endpoint path: letters, digits, - or _"],
  invalid_platform: ["此服务器不能构建该平台的 SDK", "This server cannot build an SDK for that platform"],
  invalid_report: ["评估报告无效", "Invalid report"],
  invalid_size: ["文件大小超出范围", "File size out of range"],
  invalid_package: ["模型包校验失败", "The model package does not verify"],
  missing_file: ["请选择文件", "Choose a file"],
  bad_label: ["分类名不合法", "Bad label name"],
  too_few_images: ["有分类的图片少于 20 张，不能训练", "A label has fewer than 20 images and cannot be trained"],
  too_few_labels: ["至少需要 2 个分类才能训练", "Training needs at least 2 labels"],
  too_many_labels: ["分类数超过上限", "Too many labels"],
  unknown_label: ["数据集中没有该分类", "The dataset has no such label"],
  unsupported_version: ["报告版本不受支持", "Unsupported report version"],
  upload_failed: ["上传中断，请重试", "The upload broke off: try again"],
  wrong_target: ["该版本的应用类型不能这样发布（云服务版本发布为接口，离线版本生成 SDK）", "This version cannot be published that way (cloud versions become services, offline versions SDKs)"],
  upload_incomplete: ["上传尚未完成", "The upload is not complete"],
  empty_file: ["文件为空", "The file is empty"],
  sha256_mismatch: ["文件校验和不符", "Checksum mismatch"],
  bad_credentials: ["用户名或密码错误", "Wrong username or password"],
  wrong_password: ["原密码错误", "The old password is wrong"],
  bad_token: ["令牌无效、已用完或已过期", "The token is unknown, used up or expired"],
  csrf: ["页面已过期，请刷新后重试", "The page is stale: reload and try again"],
  importing: ["数据集仍在导入，请稍候", "The dataset is still importing: please wait"],
  conflict: ["名称已存在或对象已被修改", "The name exists already, or the thing changed"],
  dataset_not_ready: ["数据集尚未导入完成", "A dataset has not finished importing"],
  in_use: ["仍在使用中（训练、服务或设备），不能删除", "Still in use by a training, a service or a device"],
  not_ready: ["尚未就绪，请稍候", "Not ready yet: please wait"],
  not_trained: ["该版本尚未训练完成", "This version has not finished training"],
  not_training: ["只有排队中或训练中的版本可以停止", "Only queued or training versions can be stopped"],
  offset_mismatch: ["上传位置不一致，请重试", "Upload offset mismatch: try again"],
  path_taken: ["该接口地址已被其他服务使用", "Another service has this endpoint path"],
  rate_limited: ["登录失败次数过多，请稍后再试", "Too many failed logins: wait a while"],
  load_failed: ["模型加载失败", "The model would not load"],
  mqtt: ["消息服务器拒绝了请求", "The message broker refused the request"],
  mqtt_off: ["此服务器未连接消息服务器，无法下发设备", "This server runs without a message broker"],
  unavailable: ["服务器暂时无法处理，请稍后重试", "The server cannot do this just now: try again"],
  not_a_zip: ["上传的文件不是有效的 zip 压缩包", "The uploaded file is not a readable zip"],
  network: ["无法连接服务器", "Cannot reach the server"],
};

/** errorText is the sentence for an error code in the current language, "" when unknown. */
export function errorText(code?: string): string {
  return code && ERRORS[code] ? L(ERRORS[code][0], ERRORS[code][1]) : "";
}

/** duration says a number of seconds the way people do: "2 分 19 秒". */
export function duration(sec?: number | null): string {
  if (sec === undefined || sec === null || !isFinite(sec)) return "–";
  if (sec < 1) return L(`${Math.round(sec * 1000)} 毫秒`, `${Math.round(sec * 1000)} ms`);
  if (sec < 60) return L(`${sec < 10 ? sec.toFixed(1) : Math.round(sec)} 秒`, `${sec < 10 ? sec.toFixed(1) : Math.round(sec)} s`);
  const s = Math.round(sec);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  if (h) return L(`${h} 小时 ${m} 分`, `${h} h ${m} min`);
  return L(`${m} 分 ${r} 秒`, `${m} min ${r} s`);
}
