// The library: the caller's entries (an admin's: everyone's), searched, filtered, sorted and paged with the list API.
import { api, service } from "./api.js";
import * as format from "./format.js";
import { fitting, remove, restore, retry } from "./actions.js";
import { attempt, el, signedInPage } from "./layout.js";
import { player } from "./player.js";

const form = document.getElementById("filters");
const rows = document.querySelector("#entries tbody");
const PAGE_SIZE = 20;
let user;
let page = 1;

function filters() {
  const data = Object.fromEntries(new FormData(form));
  if (!user.role || user.role !== "admin") data.requested_by = user.username;
  return { ...data, page, limit: PAGE_SIZE };
}

function cell(label, ...content) {
  return el("td", { dataset: { label } }, ...content);
}

function button(text, handler, className = "secondary") {
  const node = el("button", { type: "button", className }, text);
  node.addEventListener("click", handler);
  return node;
}

function play(entry) {
  const panel = document.getElementById("player-panel");
  panel.hidden = false;
  document.getElementById("player-title").textContent = "Now playing: " + format.title(entry);
  document.getElementById("player").replaceChildren(player(entry, { autoplay: true }));
  panel.querySelector("audio, video")?.focus();
}

function row(entry) {
  const can = fitting(entry);
  const name = format.title(entry);
  const act = (verb, action, done) => async () => {
    if ((verb === "Delete" || verb === "Delete file of") && !confirm(`${verb} “${name}”?`)) return;
    if (await attempt(() => action(entry), done)) await load();
  };
  const actions = el("div", { className: "row-actions" },
    entry.valid && button("Play", () => play(entry)),
    can.delete && button("Delete", act("Delete", (e) => remove(e, false), `Deleted “${name}”; it can be restored.`), "danger"),
    can.hardDelete && button("Delete file", act("Delete file of", (e) => remove(e, true), `Deleted the file of “${name}”.`), "danger"),
    can.restore && button("Restore", act("Restore", restore, `Restored “${name}”.`)),
    can.retry && button("Retry", act("Retry", retry, `Queued “${name}” again.`)),
  );
  for (const node of actions.querySelectorAll("button")) node.setAttribute("aria-label", `${node.textContent}: ${name}`);
  const state = format.state(entry);
  return el("tr", { dataset: { id: entry.id } },
    cell("Title", el("a", { href: `/entries/${entry.id}` }, name)),
    cell("Artist", format.artist(entry)),
    cell("Length", format.length(entry)),
    cell("Profile", entry.profile),
    cell("Size", format.bytes(entry.size_bytes)),
    cell("State", el("span", { className: `state state-${state}` }, state)),
    cell("Time left", format.timeLeft(entry)),
    cell("Actions", actions),
  );
}

async function load() {
  const { data } = await api("/api/media", { query: filters() });
  const { pagination } = data;
  rows.replaceChildren(...data.items.map(row));
  if (!data.items.length) rows.append(el("tr", {}, el("td", { colSpan: 8 }, "No entries.")));
  document.getElementById("page-info").textContent = `Page ${pagination.page} of ${Math.max(1, pagination.pages)} · ${pagination.total} entries`;
  document.getElementById("prev").disabled = !pagination.has_prev;
  document.getElementById("next").disabled = !pagination.has_next;
}

async function setUp() {
  user = await signedInPage();
  const info = await service();
  const profiles = document.getElementById("f-profile");
  for (const name of Object.keys(info.media_profiles)) profiles.append(el("option", { value: name }, name));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    page = 1;
    attempt(load);
  });
  for (const select of form.querySelectorAll("select")) select.addEventListener("change", () => form.requestSubmit());
  document.getElementById("prev").addEventListener("click", () => { page -= 1; attempt(load); });
  document.getElementById("next").addEventListener("click", () => { page += 1; attempt(load); });
  await load();
}

attempt(setUp);
