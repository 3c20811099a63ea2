// Routes of the console. Hash history keeps the URLs of the earlier
// console (#/datasets/…) working and needs nothing from the server.

import { createRouter, createWebHashHistory, type RouteRecordRaw } from "vue-router";

import { hasSession } from "./api/client";

const routes: RouteRecordRaw[] = [
  { path: "/", redirect: "/datasets" },
  { path: "/login", name: "login", component: () => import("./views/LoginView.vue") },
  { path: "/datasets", component: () => import("./views/DatasetsView.vue"), meta: { nav: "datasets" } },
  { path: "/datasets/:id", component: () => import("./views/DatasetView.vue"), meta: { nav: "datasets" }, props: true },
  { path: "/datasets/:id/labels/:label", component: () => import("./views/LabelView.vue"), meta: { nav: "datasets" }, props: true },
  { path: "/models", component: () => import("./views/ModelsView.vue"), meta: { nav: "models" } },
  { path: "/models/:id", component: () => import("./views/ModelView.vue"), meta: { nav: "models" }, props: true },
  { path: "/train", component: () => import("./views/TrainView.vue"), meta: { nav: "train" } },
  { path: "/models/:id/train", component: () => import("./views/TrainView.vue"), meta: { nav: "train" }, props: true },
  { path: "/models/:id/versions/:version/report", component: () => import("./views/ReportView.vue"), meta: { nav: "models" }, props: true },
  { path: "/models/:id/compare", component: () => import("./views/CompareView.vue"), meta: { nav: "models" }, props: true },
  { path: "/validate", component: () => import("./views/ValidateView.vue"), meta: { nav: "validate" } },
  { path: "/models/:id/versions/:version/validate", component: () => import("./views/ValidateView.vue"), meta: { nav: "validate" }, props: true },
  { path: "/models/:id/versions/:version/publish", component: () => import("./views/PublishView.vue"), meta: { nav: "services" }, props: true },
  { path: "/services", component: () => import("./views/ServicesView.vue"), meta: { nav: "services" } },
  { path: "/services/:id", component: () => import("./views/ServiceView.vue"), meta: { nav: "services" }, props: true },
  { path: "/devices", component: () => import("./views/DevicesView.vue"), meta: { nav: "devices" } },
  { path: "/apikeys", component: () => import("./views/ApiKeysView.vue"), meta: { nav: "apikeys" } },
  { path: "/:rest(.*)*", component: () => import("./views/NotFoundView.vue") },
];

export const router = createRouter({ history: createWebHashHistory(), routes });

router.beforeEach((to) => {
  if (to.name !== "login" && !hasSession()) return { name: "login", query: { next: to.fullPath } };
});
