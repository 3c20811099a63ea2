// The login session as the page sees it: the user of the last login (for
// display), the screen to return to after a login, and logout.

import { post, rememberLogin } from "./api.js";

const USER_KEY = "autocv_user";
const NEXT_KEY = "autocv_next";

/** currentUser is the user of the last login, for display only. */
export function currentUser() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || "null");
  } catch {
    return null;
  }
}

/** loggedIn records a successful login and goes where the user was headed. */
export function loggedIn(answer) {
  try {
    localStorage.setItem(USER_KEY, JSON.stringify(answer.user || null));
  } catch {
    // Display-only data; nothing to do without storage.
  }
  rememberLogin(answer.csrf_token);
  let next = "";
  try {
    next = sessionStorage.getItem(NEXT_KEY) || "";
    sessionStorage.removeItem(NEXT_KEY);
  } catch {
    // Go to the default screen.
  }
  location.hash = next && !next.startsWith("#/login") ? next : "#/datasets";
}

/** toLogin sends the user to the login screen, remembering where they were. */
export function toLogin() {
  if (location.hash.startsWith("#/login")) return;
  try {
    sessionStorage.setItem(NEXT_KEY, location.hash);
  } catch {
    // The user lands on the default screen after login.
  }
  rememberLogin("");
  location.hash = "#/login";
}

/** logout ends the session on the server and locally. */
export async function logout() {
  try {
    await post("/auth/logout");
  } catch {
    // Logged out on the server already, or unreachable: drop the local state anyway.
  }
  rememberLogin("");
  try {
    localStorage.removeItem(USER_KEY);
    sessionStorage.removeItem(NEXT_KEY);
  } catch {
    // Nothing stored.
  }
  location.hash = "#/login";
}
