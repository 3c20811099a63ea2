// 登录 Login: username and password against POST /auth/login; the server
// answers with the session cookie pair the rest of the console uses.

import { h, fill, errorBox, showError } from "../dom.js";
import { L } from "../i18n.js";
import { post } from "../api.js";
import { loggedIn } from "../session.js";

export async function loginView(screen) {
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true, placeholder: "admin" });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const err = errorBox(null);
  const submit = h("button", { type: "submit", class: "btn btn-primary", id: "login-submit" }, L("登录", "Log in"));
  const form = h("form", { class: "login-card card", id: "login-form" },
    h("h1", null, "AutoCV"),
    h("p", { class: "muted" }, L("图像分类平台 · 请登录", "Image classification platform · please log in")),
    h("label", null, L("用户名", "Username"), user),
    h("label", null, L("密码", "Password"), pass),
    err,
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(err, null);
    if (!user.value.trim() || !pass.value) {
      showError(err, new Error(L("请输入用户名和密码", "Enter your username and password")));
      return;
    }
    submit.disabled = true;
    try {
      const answer = await post("/auth/login", { username: user.value.trim(), password: pass.value });
      loggedIn(answer || {});
    } catch (e2) {
      showError(err, e2);
      submit.disabled = false;
    }
  });
  fill(screen.main, form);
  user.focus();
}
