// One entry: metadata, loudness, live progress, errors, its request-log lines, and what can be done to it.
import { api, session } from "./api.js";
import * as format from "./format.js";
import { fitting, remove, restore, retry } from "./actions.js";
import { attempt, el, signedInPage } from "./layout.js";
import { player } from "./player.js";
import { watch } from "./watch.js";

const id = document.getElementById("entry").dataset.mediaId;
let shownValid;

function pairs(target, list) {
  target.replaceChildren(...list.filter(([, value]) => value !== undefined && value !== null && value !== "")
    .flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, String(value))]));
}

const given = (value) => value !== null && value !== undefined;
const number = (value, unit, signed = false) =>
  value === null || value === undefined ? null : `${signed && value > 0 ? "+" : ""}${Number(value).toFixed(1)} ${unit}`;

/** metadata.loudness: the EBU R128 measurement, and what normalization did where it was asked for. */
function loudnessPairs(loudness) {
  const done = loudness.normalized;
  return [
    ["Integrated", loudness.integrated_lufs === null ? "silence" : number(loudness.integrated_lufs, "LUFS")],
    ["True peak", loudness.true_peak_pending ? "measuring…" : number(loudness.true_peak_dbtp, "dBTP")],
    ["Range", number(loudness.range_lu, "LU")],
    ["Normalized to", done && number(done.target, "LUFS")],
    ["Gain", done && number(done.gain_db, "dB", true)],
    ["Limited", done && (done.limited ? "yes (peaks limited)" : "no")],
  ];
}

function button(text, handler, className = "secondary") {
  const node = el("button", { type: "button", className }, text);
  node.addEventListener("click", handler);
  return node;
}

function show(entry) {
  const meta = entry.metadata || {};
  document.getElementById("entry-title").textContent = format.title(entry);
  document.title = format.title(entry) + " · mediacache";
  const running = !["completed", "failed"].includes(entry.status);
  const bar = document.getElementById("entry-progress");
  bar.hidden = !running;
  bar.value = format.overallPercent(entry);
  document.getElementById("entry-detail").textContent = running
    ? format.progressText(entry)
    : `${format.state(entry)} · ${format.length(entry)} · ${format.bytes(entry.size_bytes)} · time left ${format.timeLeft(entry)}`;
  if (shownValid !== entry.valid) {
    shownValid = entry.valid;
    document.getElementById("entry-player").replaceChildren(entry.valid ? player(entry) : "");
  }
  pairs(document.getElementById("entry-meta"), [
    ["Title", meta.title], ["Artist", meta.artist], ["Album", meta.album], ["Year", meta.year],
    ["Genre", (meta.genre || []).join(", ")], ["Length", format.length(entry)], ["Source", entry.url],
    ["Profile", entry.profile], ["Bitrate", entry.bitrate ? entry.bitrate / 1000 + "k" : null],
    ["Resolution", entry.resolution],
    ["Normalize", given(entry.normalize) ? `to ${entry.normalize} LUFS` : null],
    ["Clip", given(entry.start) || given(entry.end) ? `${entry.start ?? 0} s to ${given(entry.end) ? entry.end + " s" : "the end"}` : null],
    ["Codec", meta.codec], ["Sample rate", meta.sample_rate],
    ["Size", format.bytes(entry.size_bytes)], ["Requested by", entry.requested_by], ["Hits", entry.hits],
    ["Created", format.when(entry.created_at)], ["Completed", entry.completed_at && format.when(entry.completed_at)],
    ["Expires", entry.expires_at && format.when(entry.expires_at)],
    ["Retained until", entry.retained_until && format.when(entry.retained_until)], ["Id", entry.id],
  ]);
  const loudness = meta.loudness;
  document.getElementById("loudness").hidden = !loudness;
  if (loudness) pairs(document.getElementById("entry-loudness"), loudnessPairs(loudness));
  document.getElementById("entry-error").hidden = !entry.error;
  document.getElementById("entry-error-text").textContent = entry.error ? `${entry.error.code}: ${entry.error.message}` : "";
  showActions(entry);
}

function showActions(entry) {
  const user = session.user();
  const mayChange = user.role === "admin" || user.username === entry.requested_by;
  const can = fitting(entry);
  const act = (action, done) => async () => {
    const after = await attempt(() => action(entry), done);
    if (after) reload();
  };
  document.getElementById("entry-actions").replaceChildren(...[
    mayChange && can.delete && button("Delete", act((e) => remove(e, false), "Deleted; it can be restored."), "danger"),
    mayChange && can.hardDelete && button("Delete file", act((e) => remove(e, true), "The file is deleted."), "danger"),
    can.restore && button("Restore", act(restore, "Restored.")),
    mayChange && can.retry && button("Retry", act(retry, "Queued again.")),
  ].filter(Boolean));
}

async function showLog() {
  const query = { format: "json", media_id: id, limit: 100, user: session.isAdmin() ? "*" : undefined };
  const { data } = await api("/api/logs", { query });
  const rows = data.items.map((line) => el("tr", {},
    el("td", {}, format.when(line.time)), el("td", {}, line.user || "–"), el("td", {}, String(line.status)),
    el("td", {}, line.outcome), el("td", {}, line.extra ? JSON.stringify(line.extra) : "")));
  document.querySelector("#entry-log tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: 5 }, "No requests."))]));
}

let stop = () => {};
function reload() {
  stop();
  stop = watch(id, show);
  attempt(showLog);
}

async function setUp() {
  await signedInPage();
  const { data } = await api(`/api/media/${encodeURIComponent(id)}`);
  show(data);
  reload();
}

attempt(setUp);
