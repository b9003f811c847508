// The library: the caller's entries (an admin's: everyone's), searched, filtered, sorted and paged with the list API.
import { api, service } from "./api.js";
import * as format from "./format.js";
import { fitting, remove, restore, retry } from "./actions.js";
import { collectionName, showCollection, totalsText } from "./collection.js";
import { features } from "./features.js";
import { attempt, el, say, signedInPage } from "./layout.js";
import { player } from "./player.js";

const form = document.getElementById("filters");
const rows = document.querySelector("#entries tbody");
const PAGE_SIZE = 20;
let user;
let page = 1;
let stopCollection = () => {};
const COLLECTIONS_SHOWN = 50;

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

function openCollection(collection) {
  stopCollection();
  const view = document.getElementById("collection-view");
  stopCollection = showCollection(view, collection);
  view.querySelector("h2").tabIndex = -1;
  view.querySelector("h2").focus();
}

async function deleteCollection(collection, withEntries) {
  const name = collectionName(collection);
  if (!confirm(withEntries ? `Delete “${name}” and its entries?` : `Delete the collection “${name}” (its entries stay)?`)) return;
  const query = withEntries ? { entries: "true", force: "true" } : undefined;
  const answer = await attempt(() => api(`/api/collections/${encodeURIComponent(collection.id)}`, { method: "DELETE", query }));
  if (!answer) return;
  const { entries_deleted: deleted = [], entries_skipped: skipped = [] } = answer.data;
  say(withEntries ? `Deleted “${name}”: ${deleted.length} entries deleted, ${skipped.length} kept (${[...new Set(skipped.map((s) => s.error.code))].join(", ") || "none"}).`
    : `Deleted the collection “${name}”; its entries stay.`);
  if (document.querySelector(`#collection-view [data-collection-id="${collection.id}"]`)) {
    stopCollection();
    document.getElementById("collection-view").replaceChildren();
  }
  await Promise.all([loadCollections(), load()]);
}

function collectionRow(collection) {
  const name = collectionName(collection);
  const actions = el("div", { className: "row-actions" },
    button("Show", () => attempt(async () => openCollection((await api(`/api/collections/${encodeURIComponent(collection.id)}`)).data))),
    button("Delete", () => deleteCollection(collection, false), "danger"),
    button("Delete with entries", () => deleteCollection(collection, true), "danger"));
  for (const node of actions.querySelectorAll("button")) node.setAttribute("aria-label", `${node.textContent}: ${name}`);
  return el("tr", { dataset: { collectionId: collection.id } },
    cell("Title", name), cell("Items", totalsText(collection.totals)), cell("Created", format.when(collection.created_at)),
    cell("Actions", actions));
}

async function loadCollections() {
  const { data } = await api("/api/collections", { query: { limit: COLLECTIONS_SHOWN } });
  const body = document.querySelector("#collection-list tbody");
  body.replaceChildren(...data.items.map(collectionRow));
  if (!data.items.length) body.append(el("tr", {}, el("td", { colSpan: 4 }, "No collections. Queue one from the queue page.")));
  const total = data.pagination.total;
  document.getElementById("collections-info").textContent = total > data.items.length ? `The newest ${data.items.length} of ${total}.` : "";
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
  if ((await features()).collections) {
    document.getElementById("collections").hidden = false;
    await loadCollections();
  }
}

attempt(setUp);
