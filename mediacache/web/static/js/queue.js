// The queue page: the form (profiles and limits from GET /api), then the job's progress, then the player.
import { api, service } from "./api.js";
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
  if (offered.collectionParam) {
    const { data } = await api("/api/collections");
    const select = document.getElementById("collection");
    select.name = offered.collectionParam;
    for (const collection of data.items || []) select.append(el("option", { value: collection.id }, collection.name || collection.id));
    document.getElementById("collection-field").hidden = false;
  }
}

function parameters() {
  const body = { url: form.url.value.trim(), profile: profile.value };
  if (form.bitrate.value.trim() && !form.bitrate.disabled) body.bitrate = form.bitrate.value.trim();
  if (!document.getElementById("resolution-field").hidden) body.resolution = resolution.value;
  if (form.ttl.value) body.ttl = Number(form.ttl.value);
  if (!document.getElementById("normalize-field").hidden && form.normalize.checked) body.normalize = true;
  if (!document.getElementById("clip-field").hidden) {
    if (form.start.value) body.start = Number(form.start.value);
    if (form.end.value) body.end = Number(form.end.value);
  }
  const collection = document.getElementById("collection");
  if (!document.getElementById("collection-field").hidden && collection.value) body[collection.name] = collection.value;
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

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = document.getElementById("queue-button");
  button.disabled = true;
  const answer = await attempt(() => api("/api/media/queue", { method: "POST", body: parameters() }));
  button.disabled = false;
  if (!answer) return;
  say(ANSWERS[answer.status] || "Queued.");
  stopWatching();
  document.getElementById("job").hidden = false;
  document.getElementById("job-player").replaceChildren();
  show(answer.data);
  stopWatching = watch(answer.data.id, show);
});

attempt(setUp);
