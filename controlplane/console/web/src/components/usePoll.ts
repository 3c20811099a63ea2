// usePoll calls fn every ms while the page is shown and while fn returns
// true; start() starts it again (after a change that needs watching).

import { onBeforeUnmount } from "vue";

export function usePoll(ms: number, fn: () => Promise<boolean>) {
  let timer = 0;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    let again = true;
    try {
      again = await fn();
    } catch {
      again = true; // a failed poll is retried
    }
    if (!stopped && again) timer = window.setTimeout(tick, ms);
  };
  onBeforeUnmount(() => {
    stopped = true;
    clearTimeout(timer);
  });
  return {
    start() {
      clearTimeout(timer);
      timer = window.setTimeout(tick, ms);
    },
  };
}
