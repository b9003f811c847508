// The queue page: the form (profiles and limits from GET /api), then the job's progress, then the player.
import { api, service } from "./api.js";
import { collectionName, showCollection } from "./collection.js";
import { features } from "./features.js";
import { overallPercent, progressText, title } from "./format.js";
import { attempt, el, say, signedInPage } from "./layout.js";
import { player } from "./player.js";
import { watch } from "./watch.js";

const form = document.getElementById("queue-form");
const profile = document.getElementById("profile");
const resolution = document.getElementById("resolution");
let info;
let stopWatching = () => {};
let stopCollection = () => {};

function describeProfile() {
  const chosen = info.media_profiles[profile.value];
  const range = chosen?.bitrate;
  form.bitrate.disabled = !range;
  form.bitrate.value = "";
  document.getElementById("bitrate-range").textContent = range
    ? `${range.min / 1000}k–${range.max / 1000}k, default ${range.default / 1000}k`
    : "none for this profile";
  const resolutions = chosen?.resolutions || [];
  document.getElementById("resolution-field").hidden = resolutions.length === 0;
  resolution.replaceChildren(...resolutions.map((r) => el("option", { value: r, selected: r === chosen.default_resolution }, r)));
}

async function setUp() {
  await signedInPage();
  info = await service();
  for (const [name, described] of Object.entries(info.media_profiles)) {
    profile.append(el("option", { value: name, selected: name === info.default_profile }, `${name} (.${described.extension})`));
  }
  profile.addEventListener("change", describeProfile);
  describeProfile();
  form.ttl.max = info.limits.max_ttl;
  document.getElementById("ttl-range").textContent = `default ${info.limits.default_ttl}, at most ${info.limits.max_ttl}`;
  // Optional parameters, shown only where this server takes them.
  const offered = await features();
  document.getElementById("normalize-field").hidden = !offered.normalize;
  document.getElementById("clip-field").hidden = !offered.clip;
  document.getElementById("collection-field").hidden = !offered.collections;
  const target = info.limits.loudness_target;
  const targets = info.limits.loudness_targets;
  if (targets) [form.target.min, form.target.max] = [targets.min ?? -30, targets.max ?? -5];
  document.getElementById("target-range").textContent =
    `default ${target ?? -16}, ${form.target.min} to ${form.target.max}`;
  form.normalize.addEventListener("change", () => { form.target.disabled = !form.normalize.checked; });
}

function parameters() {
  const body = { url: form.url.value.trim(), profile: profile.value };
  if (form.bitrate.value.trim() && !form.bitrate.disabled) body.bitrate = form.bitrate.value.trim();
  if (!document.getElementById("resolution-field").hidden) body.resolution = resolution.value;
  if (form.ttl.value) body.ttl = Number(form.ttl.value);
  if (!document.getElementById("normalize-field").hidden && form.normalize.checked) {
    body.normalize = form.target.value.trim() ? Number(form.target.value) : true;
  }
  if (!document.getElementById("clip-field").hidden) {
    if (form.start.value) body.start = Number(form.start.value);
    if (form.end.value) body.end = Number(form.end.value);
  }
  return body;
}

function show(entry) {
  const bar = document.getElementById("job-progress");
  const detail = document.getElementById("job-detail");
  document.getElementById("job-name").replaceChildren(el("a", { href: `/entries/${entry.id}` }, title(entry)));
  bar.value = overallPercent(entry);
  bar.setAttribute("aria-valuetext", `${Math.round(bar.value)} %`);
  if (entry.status === "completed") {
    detail.textContent = entry.valid ? "Done." : "Done, but not served right now.";
    document.getElementById("job-player").replaceChildren(player(entry));
  } else if (entry.status === "failed") {
    detail.textContent = `Failed: ${entry.error?.code} — ${entry.error?.message}`;
  } else {
    detail.textContent = progressText(entry);
  }
}

const ANSWERS = { 201: "Queued.", 202: "Queued again.", 200: "Restored from the private cache.", 409: "Already in the cache." };

function asCollection() {
  return !document.getElementById("collection-field").hidden && form.collection.checked;
}

async function queueCollection(button) {
  say("Listing the collection and queueing its items…");
  const answer = await attempt(() => api("/api/collections", { method: "POST", body: parameters() }));
  button.disabled = false;
  if (!answer) return;
  const collection = answer.data;
  say(`Queued “${collectionName(collection)}”: ${collection.totals.total} items.`);
  stopCollection();
  document.getElementById("job").hidden = true;
  stopCollection = showCollection(document.getElementById("collection-view"), collection);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = document.getElementById("queue-button");
  button.disabled = true;
  if (asCollection()) return queueCollection(button);
  const answer = await attempt(() => api("/api/media/queue", { method: "POST", body: parameters() }));
  button.disabled = false;
  if (!answer) return;
  say(ANSWERS[answer.status] || "Queued.");
  stopWatching();
  stopCollection();
  document.getElementById("collection-view").replaceChildren();
  document.getElementById("job").hidden = false;
  document.getElementById("job-player").replaceChildren();
  show(answer.data);
  stopWatching = watch(answer.data.id, show);
});

attempt(setUp);
