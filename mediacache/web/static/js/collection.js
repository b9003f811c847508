// A collection (playlist, album, feed) as it fills: each item's entry with its status and progress, the totals,
// and its .m3u8, fetched with the token (a plain link would not carry it) to show or to save.
import { ApiError, api, session } from "./api.js";
import * as format from "./format.js";
import { attempt, el } from "./layout.js";
import { watch } from "./watch.js";

const FINAL = new Set(["completed", "failed"]);

/** The collection's M3U text, with the Authorization header. */
export async function playlistText(id) {
  const response = await fetch(`/api/collections/${encodeURIComponent(id)}.m3u8`, {
    headers: { Authorization: "Bearer " + session.token() },
  });
  if (!response.ok) {
    const error = (await response.json().catch(() => null))?.error || {};
    throw new ApiError(response.status, error.code || "HTTP_" + response.status, error.message || response.statusText);
  }
  return response.text();
}

function saveAs(name, text) {
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type: "audio/x-mpegurl" })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

export function totalsText(totals) {
  const { completed = 0, failed = 0, pending = 0, total = 0 } = totals || {};
  return [`${completed}/${total} completed`, failed && `${failed} failed`, pending && `${pending} pending`]
    .filter(Boolean).join(" · ");
}

export function collectionName(collection) {
  return collection.title || collection.url;
}

function itemRow(item, entry) {
  const status = entry ? format.state(entry) : item.status;
  const running = entry && !FINAL.has(entry.status);
  const error = entry?.error || item.error;
  const bar = el("progress", { max: 100, value: entry ? format.overallPercent(entry) : item.status === "completed" ? 100 : 0,
    "aria-label": `Progress: ${item.title || item.url}` });
  const detail = running ? format.progressText(entry)
    : error ? `${error.code}: ${error.message}` : format.clock(entry?.length_ms ? entry.length_ms / 1000 : item.duration);
  const name = item.title || entry?.metadata?.title || item.url;
  return el("tr", { dataset: { position: item.position, entryId: item.entry_id || "" } },
    el("td", { dataset: { label: "#" } }, String(item.position)),
    el("td", { dataset: { label: "Title" } }, item.entry_id ? el("a", { href: `/entries/${item.entry_id}` }, name) : name),
    el("td", { dataset: { label: "Artist" } }, item.artist || entry?.metadata?.artist || "–"),
    el("td", { dataset: { label: "State" } }, el("span", { className: `state state-${status}` }, status)),
    el("td", { dataset: { label: "Progress" } }, bar, el("span", { className: "hint" }, detail)),
  );
}

/**
 * Show ``collection`` (as POST or GET /api/collections answers it) in ``container`` and keep it live: each item's
 * entry is followed (the event stream where there is one), and the totals are read again as items finish.
 * Returns a function that stops following.
 */
export function showCollection(container, collection) {
  const id = collection.id;
  const entries = new Map(); // entry id → the entry as last seen
  const stops = new Map(); // entry id → stop watching
  let current = collection;
  let active = true;
  let refreshing;

  const heading = el("h2", { id: `collection-${id}-title` });
  const totals = el("p", { className: "collection-totals", "aria-live": "polite" });
  const overall = el("progress", { max: 1, value: 0, "aria-labelledby": `collection-${id}-title` });
  const rows = el("tbody");
  const listing = el("pre", { className: "m3u", hidden: true, tabIndex: 0, "aria-label": "The collection's M3U" });
  const show = el("button", { type: "button", className: "secondary" }, "Show .m3u8");
  const save = el("button", { type: "button", className: "secondary" }, "Download .m3u8");
  show.addEventListener("click", () => attempt(async () => {
    listing.textContent = await playlistText(id);
    listing.hidden = false;
  }));
  save.addEventListener("click", () => attempt(async () => saveAs(`${collectionName(current)}.m3u8`.replace(/[\\/:*?"<>|]/g, " "), await playlistText(id))));
  container.replaceChildren(el("section", { className: "card collection", dataset: { collectionId: id }, "aria-labelledby": heading.id },
    heading, el("p", { className: "hint" }, current.url), totals, overall,
    el("div", { className: "table-wrap" }, el("table", { className: "entries collection-items" },
      el("caption", { className: "visually-hidden" }, "Items"),
      el("thead", {}, el("tr", {}, ...["#", "Title", "Artist", "State", "Progress"].map((name) => el("th", { scope: "col" }, name)))),
      rows)),
    el("div", { className: "row-actions" }, show, save), listing));

  function render() {
    heading.textContent = "Collection: " + collectionName(current);
    totals.textContent = totalsText(current.totals);
    overall.max = Math.max(1, current.totals?.total || 0);
    overall.value = (current.totals?.completed || 0) + (current.totals?.failed || 0);
    rows.replaceChildren(...current.items.map((item) => itemRow(item, entries.get(item.entry_id))));
  }

  async function refresh() {
    const { data } = await api(`/api/collections/${encodeURIComponent(id)}`);
    if (!active) return;
    current = data;
    render();
    follow();
  }

  function changed(entry) {
    entries.set(entry.id, entry);
    render();
    if (FINAL.has(entry.status)) {
      // The totals are the server's: read them again once, after a burst of items finishing.
      refreshing ??= setTimeout(() => {
        refreshing = undefined;
        attempt(refresh);
      }, 250);
    }
  }

  function follow() {
    for (const item of current.items) {
      if (!item.entry_id || stops.has(item.entry_id) || FINAL.has(item.status)) continue;
      stops.set(item.entry_id, watch(item.entry_id, changed));
    }
  }

  render();
  follow();
  return () => {
    active = false;
    for (const stop of stops.values()) stop();
  };
}
