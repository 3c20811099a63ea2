// Small DOM helpers. Every piece of data from the API reaches the page as a
// text node or a property, never as HTML, so a label or file name cannot
// inject markup.

import { L, statusName } from "./i18n.js";

/**
 * h builds an element: h("a", {href: "#/x", class: "btn", onclick: fn}, "text", child…).
 * Props named on* with a function become listeners; "style" takes an object;
 * value, checked, disabled, selected and the like are set as properties.
 * Children may be strings, numbers, nodes, arrays, or null/false (skipped).
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") {
        el.addEventListener(k.slice(2), v);
      } else if (k === "class") {
        el.className = v;
      } else if (k === "style" && typeof v === "object") {
        Object.assign(el.style, v);
      } else if (k in PROPS) {
        el[k] = v;
      } else {
        el.setAttribute(k, v === true ? "" : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

const PROPS = { value: 1, checked: 1, disabled: 1, selected: 1, multiple: 1, indeterminate: 1, textContent: 1 };

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

/** clear empties el and fills it with the given children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** pct formats a fraction in [0, 1] as a percentage. */
export function pct(x, digits = 1) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  return (x * 100).toFixed(digits) + "%";
}

/** num formats a number with fixed decimals, "–" when missing. */
export function num(x, digits = 3) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  return x.toFixed(digits);
}

/** when formats an RFC 3339 time in the viewer's locale, "–" when missing. */
export function when(s) {
  if (!s) return "–";
  const d = new Date(s);
  if (Number.isNaN(d.getTime()) || d.getFullYear() < 1971) return "–";
  return d.toLocaleString(L("zh-CN", "en-GB"));
}

/** bytes formats a size in bytes. */
export function bytes(n) {
  if (typeof n !== "number") return "–";
  if (n < 1024) return n + " B";
  if (n < 1 << 20) return (n / 1024).toFixed(1) + " KB";
  if (n < 1 << 30) return (n / (1 << 20)).toFixed(1) + " MB";
  return (n / (1 << 30)).toFixed(2) + " GB";
}

/** duration formats seconds as "1h 2m", "3m 4s" or "5s". */
export function duration(sec) {
  if (typeof sec !== "number" || !Number.isFinite(sec) || sec < 0) return "–";
  sec = Math.round(sec);
  const hh = Math.floor(sec / 3600), mm = Math.floor((sec % 3600) / 60), ss = sec % 60;
  if (hh) return `${hh}h ${mm}m`;
  if (mm) return `${mm}m ${ss}s`;
  return `${ss}s`;
}

/** badge shows an API status in colour with its translated name. */
export function badge(status, text) {
  return h("span", { class: "badge badge-" + String(status || "unknown").replace(/[^a-z_-]/gi, "") }, text || statusName(status));
}

/** progressBar draws a bar for a percent in [0, 100] with an optional label. */
export function progressBar(value, label) {
  const p = Math.max(0, Math.min(100, Number(value) || 0));
  return h("div", { class: "progress", role: "progressbar", "aria-valuenow": Math.round(p), "aria-valuemin": 0, "aria-valuemax": 100 },
    h("div", { class: "progress-fill", style: { width: p + "%" } }),
    h("span", { class: "progress-text" }, label !== undefined ? label : Math.round(p) + "%"));
}

/** table builds a table from header cells and rows of cells. */
export function table(headers, rows, empty) {
  const body = rows.length
    ? rows.map((r) => (r instanceof Node ? r : h("tr", null, r.map((c) => (c instanceof Node && c.tagName === "TD" ? c : h("td", null, c))))))
    : [h("tr", null, h("td", { class: "empty", colspan: headers.length }, empty || L("暂无数据", "Nothing here yet")))];
  return h("div", { class: "table-wrap" },
    h("table", null, h("thead", null, h("tr", null, headers.map((x) => h("th", null, x)))), h("tbody", null, body)));
}

/** card wraps content in a titled panel. */
export function card(title, ...children) {
  return h("section", { class: "card" }, title ? h("h2", null, title) : null, ...children);
}

/** errorBox shows an error message, or nothing for null. */
export function errorBox(err) {
  if (!err) return h("div", { class: "error", hidden: true });
  return h("div", { class: "error", role: "alert" }, err.message || String(err));
}

/** showError puts err into an existing errorBox (or hides it for null). */
export function showError(box, err) {
  if (!err) {
    box.hidden = true;
    box.textContent = "";
    return;
  }
  box.hidden = false;
  box.textContent = err.message || String(err);
}

/** copyButton copies text to the clipboard and says so. */
export function copyButton(getText) {
  const btn = h("button", { type: "button", class: "btn btn-small" }, L("复制", "Copy"));
  btn.addEventListener("click", async () => {
    const text = typeof getText === "function" ? getText() : getText;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // Clipboard API needs a secure context; fall back to a selection copy.
      const ta = h("textarea", { style: { position: "fixed", opacity: "0" } });
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      document.execCommand("copy");
      ta.remove();
    }
    btn.textContent = L("已复制", "Copied");
    setTimeout(() => (btn.textContent = L("复制", "Copy")), 1500);
  });
  return btn;
}
