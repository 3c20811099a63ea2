// useUpload runs one upload at a time for a page: progress (0..100),
// a guard against closing the tab, and a question before leaving the page
// while bytes are in flight (leaving cancels the upload, so a finished
// upload never pulls the user back to a page they left).

import { ElMessageBox } from "element-plus";
import { onBeforeUnmount, ref } from "vue";
import { onBeforeRouteLeave } from "vue-router";

import { L } from "../i18n";

export function useUpload() {
  const percent = ref(0);
  const running = ref(false);
  let abort: (() => void) | null = null;
  let left = false;
  const guard = (e: BeforeUnloadEvent) => {
    e.preventDefault();
    e.returnValue = "";
  };
  onBeforeRouteLeave(async () => {
    if (!running.value) return true;
    try {
      await ElMessageBox.confirm(L("上传尚未完成，离开将取消上传。确定离开？", "The upload has not finished; leaving cancels it. Leave?"),
        L("离开页面", "Leave the page"), { confirmButtonText: L("离开", "Leave"), cancelButtonText: L("留下", "Stay"), type: "warning" });
    } catch {
      return false;
    }
    left = true;
    abort?.();
    return true;
  });
  onBeforeUnmount(() => {
    left = true;
    abort?.();
    window.removeEventListener("beforeunload", guard);
  });
  return {
    percent,
    running,
    /** alive reports whether the page is still shown (after an await). */
    alive: () => !left,
    /** run starts work(onProgress) with its abort function. */
    async run<T>(start: (onProgress: (f: number) => void) => { done: Promise<T>; abort: () => void }): Promise<T> {
      percent.value = 0;
      running.value = true;
      window.addEventListener("beforeunload", guard);
      try {
        const job = start((f) => (percent.value = Math.min(100, Math.round(f * 100))));
        abort = job.abort;
        return await job.done;
      } finally {
        abort = null;
        running.value = false;
        window.removeEventListener("beforeunload", guard);
      }
    },
  };
}
