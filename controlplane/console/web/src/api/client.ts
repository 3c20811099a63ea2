// The REST client, typed from protocol/api/openapi.json (schema.d.ts is made
// by `npm run schema` with openapi-typescript). The console authenticates
// with the session cookie the server sets at login (HttpOnly
// autocv_session) and proves each non-GET request is its own with the
// X-CSRF-Token header, copied from the readable autocv_csrf cookie (or the
// login answer's csrf_token, kept in sessionStorage). Errors come back as
// {error, code}; ApiError carries both so pages show the code's sentence in
// the user's language.

import createClient, { type Middleware } from "openapi-fetch";

import { errorText, L } from "../i18n";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];

/** ApiError is a non-2xx answer: status, the server's message and code. */
export class ApiError extends Error {
  status: number;
  code: string;
  constructor(status: number, message: string, code: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

/** message is what a page shows for an error: the code's sentence in the
 * user's language, then the server's own words when they add something. */
export function message(e: unknown): string {
  if (e instanceof ApiError) {
    const known = errorText(e.code);
    if (!known) return e.message || `HTTP ${e.status}`;
    // Field rules name the field only in the server's text: keep it.
    return ["invalid", "bad_request", "conflict", "in_use", "invalid_platform"].includes(e.code) && e.message
      ? `${known}（${e.message}）`
      : known;
  }
  return e instanceof Error ? e.message : String(e);
}

let unauthorized = () => {};

/** onUnauthorized sets what happens on a 401 outside login (the app goes to login). */
export function onUnauthorized(fn: () => void) {
  unauthorized = fn;
}

function cookie(name: string): string {
  for (const part of document.cookie.split(";")) {
    const i = part.indexOf("=");
    if (i >= 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return "";
}

const CSRF_KEY = "autocv_csrf_token";

/** rememberLogin keeps the login answer's CSRF token as a fallback for the cookie. */
export function rememberLogin(token: string) {
  try {
    if (token) sessionStorage.setItem(CSRF_KEY, token);
    else sessionStorage.removeItem(CSRF_KEY);
  } catch {
    // No storage: the cookie alone has to do.
  }
}

function csrfToken(): string {
  const c = cookie("autocv_csrf");
  if (c) return c;
  try {
    return sessionStorage.getItem(CSRF_KEY) || "";
  } catch {
    return "";
  }
}

/** hasSession reports whether the page looks logged in (a CSRF token is at hand). */
export const hasSession = () => csrfToken() !== "";

async function errorOf(status: number, text: string): Promise<ApiError> {
  let msg = "", code = "";
  try {
    const j = JSON.parse(text);
    msg = j.error || j.message || "";
    code = j.code || "";
  } catch {
    msg = text.trim().slice(0, 500);
  }
  return new ApiError(status, msg || `HTTP ${status}`, code);
}

const session: Middleware = {
  onRequest({ request }) {
    if (request.method !== "GET" && request.method !== "HEAD") request.headers.set("X-CSRF-Token", csrfToken());
    request.headers.set("Accept", "application/json");
    return request;
  },
  async onResponse({ request, response }) {
    if (response.ok) return response;
    const err = await errorOf(response.status, await response.clone().text());
    if (response.status === 401 && !request.url.endsWith("/auth/login")) unauthorized();
    throw err;
  },
  onError({ error }) {
    if (error instanceof ApiError) return error;
    return new ApiError(0, L("无法连接服务器：", "Cannot reach the server: ") + String(error), "network");
  },
};

/** api is the typed client: api.GET("/api/v1/datasets/{id}", {params: {path: {id}}}). */
export const api = createClient<paths>({ credentials: "same-origin" });
api.use(session);

/** data unwraps an openapi-fetch answer: its data, or the error thrown. */
export async function data<T>(p: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const r = await p;
  if (r.error !== undefined) throw await errorOf(r.response.status, JSON.stringify(r.error));
  return r.data as T;
}

/** url fills a path template's {params} (each encoded as one segment). */
export function url(template: string, params: Record<string, string | number> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_, k) => encodeURIComponent(String(params[k])));
}

/** xhrPost POSTs a FormData to the API with XMLHttpRequest so the page can
 * show upload progress; abort() on the returned handle stops it. */
export function xhrPost<T>(
  template: string,
  params: Record<string, string | number>,
  form: FormData | Blob,
  onProgress?: (fraction: number) => void,
  method = "POST",
  headers: Record<string, string> = {},
): { done: Promise<T>; abort: () => void } {
  const xhr = new XMLHttpRequest();
  const done = new Promise<T>((resolve, reject) => {
    xhr.open(method, url(template, params));
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable && onProgress) onProgress(e.loaded / e.total);
    };
    xhr.onload = async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        try {
          resolve(xhr.responseText ? JSON.parse(xhr.responseText) : ({} as T));
        } catch (e) {
          reject(e);
        }
        return;
      }
      if (xhr.status === 401) unauthorized();
      reject(await errorOf(xhr.status, xhr.responseText || ""));
    };
    xhr.onerror = () => reject(new ApiError(0, L("上传失败：连接中断", "Upload failed: connection lost"), "network"));
    xhr.onabort = () => reject(new ApiError(0, L("上传已取消", "Upload cancelled"), "aborted"));
    xhr.send(form);
  });
  return { done, abort: () => xhr.abort() };
}

const CHUNK = 8 * 1024 * 1024;

/** resumableUpload sends a file through the resumable upload API in 8 MB
 * chunks (POST /uploads, then PATCH /uploads/{id} at Upload-Offset) and
 * resolves with the upload id to pass as upload_id. */
export function resumableUpload(file: File, onProgress: (fraction: number) => void) {
  let current: { abort: () => void } | null = null;
  let aborted = false;
  const done = (async () => {
    const up = await data(api.POST("/api/v1/uploads", { body: { size: file.size } }));
    let offset = up.offset || 0;
    while (offset < file.size) {
      if (aborted) throw new ApiError(0, L("上传已取消", "Upload cancelled"), "aborted");
      const end = Math.min(file.size, offset + CHUNK);
      const start = offset;
      const req = xhrPost<Schemas["Upload"]>("/api/v1/uploads/{id}", { id: up.id }, file.slice(start, end),
        (f) => onProgress((start + f * (end - start)) / file.size), "PATCH",
        { "Upload-Offset": String(start), "Content-Type": "application/octet-stream" });
      current = req;
      const now = await req.done;
      offset = now.offset;
    }
    onProgress(1);
    return up.id;
  })();
  return {
    done,
    abort() {
      aborted = true;
      current?.abort();
    },
  };
}

/** thumbnail and imageURL are an image's addresses for <img src>. */
export const thumbnail = (id?: string) => url("/api/v1/images/{id}/thumbnail", { id: id || "" });
export const imageURL = (id?: string) => url("/api/v1/images/{id}", { id: id || "" });
