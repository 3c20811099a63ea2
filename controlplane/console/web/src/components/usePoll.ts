// usePoll calls fn every ms while the page is shown and while fn returns
// true; start() starts it again (after a change that needs watching). One
// chain runs at a time: start() during a call only asks that call's chain
// to go on.

import { onBeforeUnmount } from "vue";

export function usePoll(ms: number, fn: () => Promise<boolean>) {
  let timer = 0;
  let stopped = false;
  let inFlight = false;
  let wanted = false; // start() was called during a call
  const tick = async () => {
    if (stopped) return;
    timer = 0;
    inFlight = true;
    wanted = false;
    let again = true;
    try {
      again = await fn();
    } catch {
      again = true; // a failed poll is retried
    }
    inFlight = false;
    if (!stopped && (again || wanted)) timer = window.setTimeout(tick, ms);
  };
  onBeforeUnmount(() => {
    stopped = true;
    clearTimeout(timer);
  });
  return {
    start() {
      if (inFlight) {
        wanted = true;
        return;
      }
      clearTimeout(timer);
      timer = window.setTimeout(tick, ms);
    },
  };
}
