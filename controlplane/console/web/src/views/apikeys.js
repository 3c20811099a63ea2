// API 密钥 API keys for scripts and cloud services: list, create (the key is
// shown once, with a copy button) and delete.

import { h, fill, table, card, errorBox, showError, when, copyButton } from "../dom.js";
import { L } from "../i18n.js";
import { get, post, del, seg } from "../api.js";

export async function apikeysView(screen) {
  const res = await get("/apikeys");
  const items = (res && res.items) || [];
  const name = h("input", { id: "apikey-name", maxlength: 100, placeholder: L("用途，例如 生产线 1", "What it is for, e.g. line 1") });
  const err = errorBox(null);
  const shown = h("div", { id: "apikey-created" });
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "apikey-create" }, L("创建密钥", "Create key"));
  const form = h("form", { class: "form-row" }, h("label", null, L("名称", "Name"), name), submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(err, null);
    if (!name.value.trim()) {
      showError(err, new Error(L("请输入密钥名称", "Enter a name for the key")));
      return;
    }
    submit.disabled = true;
    try {
      const k = await post("/apikeys", { name: name.value.trim() });
      fill(shown, h("div", { class: "secret" },
        h("p", { class: "warn" }, L("密钥只显示这一次，请立即复制并妥善保存。", "The key is shown only this once: copy it now and keep it safe.")),
        h("div", { class: "code-block" }, h("pre", { id: "apikey-value" }, k.key), copyButton(k.key)),
        h("button", { type: "button", class: "btn btn-small", onclick: () => screen.reload() }, L("我已保存", "I have saved it"))));
      submit.disabled = false;
      name.value = "";
    } catch (e2) {
      showError(err, e2);
      submit.disabled = false;
    }
  });

  const rows = items.map((k) => {
    const rm = h("button", { type: "button", class: "btn btn-small btn-danger" }, L("删除", "Delete"));
    const rmErr = errorBox(null);
    rm.addEventListener("click", async () => {
      if (!confirm(L(`确定删除密钥“${k.name}”？使用它的程序将无法再调用。`, `Delete key "${k.name}"? Programs using it will stop working.`))) return;
      try {
        await del("/apikeys/" + seg(k.id));
        screen.reload();
      } catch (e) {
        showError(rmErr, e);
      }
    });
    return [k.name, when(k.created_at), k.last_used ? when(k.last_used) : L("从未使用", "never"), h("div", null, rm, rmErr)];
  });

  fill(screen.main,
    h("h1", null, L("API 密钥", "API keys")),
    h("p", { class: "hint" }, L("调用云服务接口或 REST API 时，在请求头中带上 Authorization: Bearer <密钥>。", "Send Authorization: Bearer <key> when calling a cloud service or the REST API.")),
    card(L("创建密钥", "Create a key"), form, err, shown),
    card(L("我的密钥", "My keys"), table([L("名称", "Name"), L("创建时间", "Created"), L("最近使用", "Last used"), L("操作", "Actions")], rows, L("还没有密钥", "No keys yet"))));
}
