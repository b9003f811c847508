// Sign in through the API; the token is kept in this tab's sessionStorage only.
import { api, session } from "./api.js";

const form = document.getElementById("sign-in-form");
const notice = document.getElementById("notice");

function show(text) {
  notice.textContent = text;
  notice.hidden = !text;
}

show(session.takeNotice() || "");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const { data } = await api("/api/auth/login", {
      method: "POST",
      body: { username: form.username.value, password: form.password.value },
    });
    session.start(data.token, data.user);
    const next = new URLSearchParams(location.search).get("next");
    // Only a path of this site: never an address elsewhere.
    location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/");
  } catch (error) {
    show(error.message || "Sign-in failed.");
    form.password.select();
  } finally {
    button.disabled = false;
  }
});
