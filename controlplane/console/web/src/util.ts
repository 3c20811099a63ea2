// Small formatting helpers and the client-side checks made before an upload.

import { L } from "./i18n";

/** pct shows a 0..1 fraction as a percentage. */
export function pct(x?: number | null, digits = 1): string {
  return typeof x === "number" && isFinite(x) ? (x * 100).toFixed(digits) + "%" : "–";
}

/** when shows a timestamp in the user's locale. */
export function when(s?: string | null): string {
  if (!s) return "–";
  const d = new Date(s);
  return isNaN(d.getTime()) ? s : d.toLocaleString(L("zh-CN", "en-GB"), { hour12: false });
}

/** bytes shows a size in B, KB, MB or GB. */
export function bytes(n?: number | null): string {
  if (typeof n !== "number") return "–";
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

/** NAME_MAX and validName mirror api.ValidName(s, 64) (protocol/api/names.go). */
export const NAME_MAX = 64;
export function validName(s: string): boolean {
  const n = [...s].length;
  if (n === 0 || n > NAME_MAX || s.startsWith(" ") || s.endsWith(" ") || s.replace(/\./g, "") === "") return false;
  return /^[\p{L}\p{N}\p{M}_\-. ]+$/u.test(s) && !/^\p{M}/u.test(s);
}
export const nameRule = () =>
  L(`名称 1–${NAME_MAX} 个字符：中文、字母、数字、下划线、连字符、点，以及中间的空格（不能用括号等符号）。`,
    `Names: 1–${NAME_MAX} characters of letters (Chinese included), digits, _, - and ., with inner spaces (no brackets or other symbols).`);

/** validLabel mirrors the importer's label rule: letters, digits and _ only. */
export const validLabel = (s: string) => s.length > 0 && /^[\p{L}\p{N}_]+$/u.test(s);

export const MAX_ZIP = 5 * 1024 * 1024 * 1024;
export const MIN_TRAINABLE = 20;
export const RECOMMENDED = 100;

/**
 * zipFolders reads a zip's central directory in the browser (the end
 * record, then the file headers; no decompression) and returns the label
 * folders with their image counts and the entries outside any folder.
 * It throws when the file is not a zip.
 */
export async function zipFolders(file: Blob): Promise<{ labels: Map<string, number>; loose: number; entries: number }> {
  const tailSize = Math.min(file.size, 65557);
  const tail = new DataView(await file.slice(file.size - tailSize).arrayBuffer());
  let eocd = -1;
  for (let i = tailSize - 22; i >= 0; i--) {
    if (tail.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("not a zip");
  let count = tail.getUint16(eocd + 10, true);
  let size = tail.getUint32(eocd + 12, true);
  let offset = tail.getUint32(eocd + 16, true);
  if (offset === 0xffffffff || size === 0xffffffff || count === 0xffff) {
    // zip64: the zip64 end record, found through its locator.
    const loc = eocd - 20;
    if (loc < 0 || tail.getUint32(loc, true) !== 0x07064b50) throw new Error("not a zip");
    const recOff = Number(tail.getBigUint64(loc + 8, true));
    const rec = new DataView(await file.slice(recOff, recOff + 56).arrayBuffer());
    if (rec.getUint32(0, true) !== 0x06064b50) throw new Error("not a zip");
    count = Number(rec.getBigUint64(32, true));
    size = Number(rec.getBigUint64(40, true));
    offset = Number(rec.getBigUint64(48, true));
  }
  const dir = new DataView(await file.slice(offset, offset + size).arrayBuffer());
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const gbk = new TextDecoder("gbk");
  const labels = new Map<string, number>();
  let loose = 0, p = 0, entries = 0;
  for (let n = 0; n < count && p + 46 <= dir.byteLength; n++) {
    if (dir.getUint32(p, true) !== 0x02014b50) throw new Error("not a zip");
    const nameLen = dir.getUint16(p + 28, true), extraLen = dir.getUint16(p + 30, true), commentLen = dir.getUint16(p + 32, true);
    const raw = new Uint8Array(dir.buffer, dir.byteOffset + p + 46, nameLen);
    let name: string;
    try {
      name = utf8.decode(raw);
    } catch {
      name = gbk.decode(raw);
    }
    p += 46 + nameLen + extraLen + commentLen;
    if (name.endsWith("/") || name.startsWith("__MACOSX/") || name.split("/").pop()!.startsWith(".")) continue;
    entries++;
    const parts = name.split("/").filter(Boolean);
    // Images sit in <label>/ or in <top>/<label>/ (one wrapping folder).
    if (parts.length < 2) {
      loose++;
      continue;
    }
    const label = parts[parts.length - 2];
    labels.set(label, (labels.get(label) || 0) + 1);
  }
  return { labels, loose, entries };
}

// escapeHTML makes user data safe inside the HTML an ECharts tooltip
// formatter returns (ECharts puts that string into innerHTML as it is).
export function escapeHTML(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
