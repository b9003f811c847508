// What every signed-in page does first: check the token, show who is signed in, wire sign-out and status messages.
import { api, session, signInAgain } from "./api.js";

const status = () => document.getElementById("status");

/** A message in the page's live region (read out by screen readers). */
export function say(text, kind = "info") {
  const region = status();
  region.textContent = text;
  region.className = "status" + (kind === "error" ? " error" : "");
}

/** Run ``action``; an API error becomes a message instead of an unhandled rejection. */
export async function attempt(action, done) {
  try {
    const result = await action();
    if (done) say(done);
    return result;
  } catch (error) {
    if (error.status !== 401) say(error.message || String(error), "error");
    return undefined;
  }
}

/** Element helper: el("td", {className: "x"}, "text", child…). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("aria-") || name === "role" || name === "for") node.setAttribute(name, value);
    else node[name] = value;
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) node.append(child);
  }
  return node;
}

async function signOut() {
  await api("/api/auth/logout", { method: "POST" }).catch(() => undefined);
  session.end("You have signed out.");
  location.assign("/sign-in");
}

/** Start a signed-in page: resolves to the user, or sends the browser to sign in. */
export async function signedInPage() {
  if (!session.token()) {
    signInAgain();
    return new Promise(() => {});
  }
  const user = (await api("/api/users/me")).data;
  session.start(session.token(), user);
  document.getElementById("who").textContent = user.username + (user.role === "admin" ? " (admin)" : "");
  document.getElementById("sign-out").addEventListener("click", signOut);
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = user.role !== "admin";
  return user;
}
