// The REST client. The console authenticates with the session cookie the
// server sets at login (HttpOnly autocv_session) and proves each non-GET
// request is its own with the X-CSRF-Token header, copied from the readable
// autocv_csrf cookie. Errors come back as {error, code}; ApiError carries
// the server's own sentence so the page can show it verbatim.

import { L } from "./i18n.js";

export const BASE = "/api/v1";

/** ApiError is a non-2xx answer: status, the server's message and code. */
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code || "";
  }
}

let unauthorized = () => {};

/** onUnauthorized sets what happens on a 401 (the app goes to login). */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

/** cookie returns the value of a readable cookie, "" when unset. */
export function cookie(name) {
  for (const part of document.cookie.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return "";
}

// The csrf_token of the login answer, kept in case the cookie is not
// readable from the page (e.g. a server that scopes it to /api).
const CSRF_KEY = "autocv_csrf_token";

/** rememberLogin keeps the login answer's CSRF token as a fallback. */
export function rememberLogin(csrfToken) {
  try {
    if (csrfToken) sessionStorage.setItem(CSRF_KEY, csrfToken);
    else sessionStorage.removeItem(CSRF_KEY);
  } catch {
    // No storage: the cookie alone has to do.
  }
}

function csrfToken() {
  const c = cookie("autocv_csrf");
  if (c) return c;
  try {
    return sessionStorage.getItem(CSRF_KEY) || "";
  } catch {
    return "";
  }
}

/** hasSession reports whether the page looks logged in (a CSRF token is at hand). */
export function hasSession() {
  return csrfToken() !== "";
}

function csrfHeaders(method) {
  return method === "GET" || method === "HEAD" ? {} : { "X-CSRF-Token": csrfToken() };
}

async function errorOf(status, text, statusText) {
  let msg = "", code = "";
  try {
    const j = JSON.parse(text);
    msg = j.error || j.message || "";
    code = j.code || "";
  } catch {
    msg = text.trim().slice(0, 500);
  }
  return new ApiError(status, msg || `HTTP ${status} ${statusText || ""}`.trim(), code);
}

function parseBody(text, contentType) {
  if (!text) return null;
  if ((contentType || "").includes("json")) return JSON.parse(text);
  return text;
}

/**
 * api calls METHOD /api/v1PATH with an optional JSON body (or FormData) and
 * returns the decoded JSON. A 401 (outside login) also triggers the
 * unauthorized hook.
 */
export async function api(method, path, body) {
  const headers = { Accept: "application/json", ...csrfHeaders(method) };
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(BASE + path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, L("无法连接服务器：", "Cannot reach the server: ") + e.message, "network");
  }
  const text = await res.text();
  if (!res.ok) {
    const err = await errorOf(res.status, text, res.statusText);
    if (res.status === 401 && path !== "/auth/login") unauthorized();
    throw err;
  }
  return parseBody(text, res.headers.get("content-type"));
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body === undefined ? {} : body);
export const patch = (path, body) => api("PATCH", path, body);
export const put = (path, body) => api("PUT", path, body);
export const del = (path) => api("DELETE", path);

/**
 * upload POSTs a FormData with XMLHttpRequest so the page can show upload
 * progress: onProgress(fraction) runs as bytes leave the browser.
 */
export function upload(path, form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", BASE + path);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    for (const [k, v] of Object.entries(csrfHeaders("POST"))) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(parseBody(xhr.responseText, xhr.getResponseHeader("content-type")));
        } catch (e) {
          reject(e);
        }
        return;
      }
      const err = await errorOf(xhr.status, xhr.responseText || "", xhr.statusText);
      if (xhr.status === 401) unauthorized();
      reject(err);
    };
    xhr.onerror = () => reject(new ApiError(0, L("上传失败：连接中断", "Upload failed: connection lost"), "network"));
    xhr.send(form);
  });
}

/** seg encodes one path segment (ids, Chinese label names). */
export const seg = encodeURIComponent;
