// The login session as the page sees it: the user of the last login (for
// display), the screen to return to after a login, and logout.

import { api, rememberLogin } from "./api/client";
import type { Schemas } from "./api/client";

const USER_KEY = "autocv_user";

/** currentUser is the user of the last login, for display only. */
export function currentUser(): Schemas["User"] | null {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || "null");
  } catch {
    return null;
  }
}

/** loggedIn records a successful login. */
export function loggedIn(answer: Schemas["LoginResponse"]) {
  try {
    localStorage.setItem(USER_KEY, JSON.stringify(answer.user || null));
  } catch {
    // Display-only data.
  }
  rememberLogin(answer.csrf_token || "");
}

/** logout ends the session on the server and locally. */
export async function logout() {
  try {
    await api.POST("/api/v1/auth/logout");
  } catch {
    // Logged out already, or unreachable: drop the local state anyway.
  }
  rememberLogin("");
  try {
    localStorage.removeItem(USER_KEY);
  } catch {
    // Nothing stored.
  }
}
