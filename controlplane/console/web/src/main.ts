// The console's entry: Vue, the router, Element Plus's message and dialog
// styles (the components' own styles are imported on demand by Vite).

import "element-plus/es/components/message/style/css";
import "element-plus/es/components/message-box/style/css";
import "./style.css";

import { createApp } from "vue";

import { onUnauthorized } from "./api/client";
import App from "./App.vue";
import { lang } from "./i18n";
import { router } from "./router";

document.documentElement.lang = lang.value;
onUnauthorized(() => {
  const here = router.currentRoute.value;
  if (here.name !== "login") router.push({ name: "login", query: { next: here.fullPath } });
});
createApp(App).use(router).mount("#app");
