// Administration: stats as charts, capacity, users, jobs and dead letters, settings, the activity log.
import { api } from "./api.js";
import { bars, columns } from "./charts.js";
import * as format from "./format.js";
import { attempt, el, say, signedInPage } from "./layout.js";

const $ = (selector) => document.querySelector(selector);

function button(text, handler, className = "secondary", label) {
  const node = el("button", { type: "button", className }, text);
  if (label) node.setAttribute("aria-label", label);
  node.addEventListener("click", handler);
  return node;
}

async function showStats() {
  const [{ data: stats }, { data: daily }] = await Promise.all([api("/api/stats"), api("/api/stats/daily", { query: { days: 30 } })]);
  $("#chart-profile").replaceChildren(bars(Object.entries(stats.by_profile), { label: "Entries by profile" }));
  $("#chart-status").replaceChildren(bars(Object.entries(stats.by_status), { label: "Entries by status" }));
  const days = daily.series.map((day) => day.date);
  $("#chart-daily").replaceChildren(
    columns(days, [["queued", daily.series.map((d) => d.queued)], ["served", daily.series.map((d) => d.served)]],
      { label: "Queued and served per day over the last 30 days" }),
    el("p", { className: "legend" }, el("span", { className: "l1" }, "queued"), el("span", { className: "l2" }, "served (file hits)")),
  );
}

async function showCapacity(measure = false) {
  const { data } = measure ? await api("/api/admin/capacity/probe-now", { method: "POST" }) : await api("/api/admin/capacity");
  const total = data.quota_bytes || data.disk_total;
  const pairs = [["live", data.bytes_live], ["retained", data.bytes_retained], ["disk used", data.disk_total - data.disk_free]];
  $("#capacity-bars").replaceChildren(
    bars(pairs, { label: "Disk use", format: format.bytes, max: Math.max(data.disk_total, 1) }),
    el("p", {}, `Disk: ${format.bytes(data.disk_free)} free of ${format.bytes(data.disk_total)} (${data.disk_used_percent} % used)` +
      (data.quota_bytes ? ` · quota ${format.bytes(total)}, ${data.quota_used_percent} % used` : " · no quota")),
  );
}

function limitsField(user) {
  const form = el("form", { className: "row-actions" });
  for (const name of ["queue_per_minute", "lookups_per_minute", "max_pending"]) {
    form.append(el("input", { name, type: "number", min: 0, value: user[name] ?? "", placeholder: "default", className: "limit",
      "aria-label": `${name.replaceAll("_", " ")} for ${user.username}` }));
  }
  form.append(el("button", { type: "submit", className: "secondary", "aria-label": `Save limits of ${user.username}` }, "Save"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const input of form.querySelectorAll("input")) body[input.name] = input.value === "" ? null : Number(input.value);
    await attempt(() => api(`/api/users/${user.id}`, { method: "PATCH", body }), `Saved the limits of ${user.username}.`);
  });
  return form;
}

function askPassword() {
  const dialog = $("#password-dialog");
  const input = $("#reset-password");
  input.value = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok" ? input.value : null), { once: true });
  });
}

function userRow(user, me) {
  const change = (body, done) => attempt(() => api(`/api/users/${user.id}`, { method: "PATCH", body }), done).then(showUsers);
  const role = el("select", { "aria-label": `Role of ${user.username}`, disabled: user.id === me.id },
    ...["user", "service", "admin"].map((name) => el("option", { value: name, selected: name === user.role }, name)));
  role.addEventListener("change", () => change({ role: role.value }, `${user.username} is now ${role.value}.`));
  const self = user.id === me.id;
  return el("tr", { dataset: { username: user.username } },
    el("td", {}, user.username, user.email ? el("div", { className: "hint" }, user.email) : ""),
    el("td", {}, role),
    el("td", {}, user.active ? "yes" : "no"),
    el("td", {}, limitsField(user)),
    el("td", {}, format.when(user.last_login_at)),
    el("td", {}, el("div", { className: "row-actions" },
      !self && button(user.active ? "Disable" : "Enable", () => change({ active: !user.active }, `${user.username} is ${user.active ? "disabled" : "enabled"}.`),
        "secondary", `${user.active ? "Disable" : "Enable"} ${user.username}`),
      button("Reset password", async () => {
        const password = await askPassword();
        if (password) change({ password }, `New password set for ${user.username}.`);
      }, "secondary", `Reset the password of ${user.username}`),
      !self && button("Delete", async () => {
        if (!confirm(`Delete the account ${user.username}?`)) return;
        await attempt(() => api(`/api/users/${user.id}`, { method: "DELETE" }), `Deleted ${user.username}.`);
        showUsers();
      }, "danger", `Delete ${user.username}`),
    )),
  );
}

let me;
async function showUsers() {
  const { data } = await api("/api/users", { query: { limit: 100 } });
  $("#users-table tbody").replaceChildren(...data.items.map((user) => userRow(user, me)));
}

function entryLabel(entry) {
  return el("a", { href: `/entries/${entry.id}` }, format.title(entry));
}

async function showJobs() {
  const [{ data: jobs }, { data: dead }] = await Promise.all([api("/api/admin/jobs", { query: { limit: 100 } }), api("/api/admin/jobs/dlq", { query: { limit: 100 } })]);
  $("#jobs-list").replaceChildren(...(jobs.items.length ? jobs.items.map((entry) =>
    el("li", {}, entryLabel(entry), " — ", format.progressText(entry),
      el("progress", { max: 100, value: format.overallPercent(entry), "aria-label": `Progress of ${format.title(entry)}` }))) : [el("li", {}, "No jobs running or waiting.")]));
  $("#dlq-table tbody").replaceChildren(...(dead.items.length ? dead.items.map((entry) => el("tr", {},
    el("td", {}, el("input", { type: "checkbox", value: entry.id, "aria-label": `Select ${format.title(entry)}` })),
    el("td", {}, entryLabel(entry)), el("td", {}, `${entry.error?.code}: ${entry.error?.message}`), el("td", {}, format.when(entry.updated_at)),
  )) : [el("tr", {}, el("td", { colSpan: 4 }, "No failed entries."))]));
}

async function onDeadLetters(verb) {
  const ids = [...document.querySelectorAll("#dlq-table input:checked")].map((box) => box.value);
  if (!ids.length) return say("Select entries first.");
  if (verb === "purge" && !confirm(`Purge ${ids.length} entries for good?`)) return;
  const { data } = await api(`/api/admin/jobs/${verb}`, { method: "POST", body: { ids } });
  const done = (data.requeued || data.purged || []).length;
  say(`${verb === "purge" ? "Purged" : "Requeued"} ${done}; skipped ${data.skipped.length}.`);
  await showJobs();
}

async function showSettings() {
  const { data } = await api("/api/settings");
  const form = $("#settings-form");
  form.replaceChildren(...Object.entries(data).map(([key, { value, default: fallback }]) => {
    const id = `setting-${key}`;
    const input = key === "registration"
      ? el("select", { id, name: key }, ...["off", "approval", "open"].map((mode) => el("option", { value: mode, selected: mode === value }, mode)))
      : el("input", { id, name: key, type: "number", min: 0, value });
    const save = button("Save", () => attempt(
      () => api(`/api/settings/${key}`, { method: "PUT", body: { value: input.type === "number" ? Number(input.value) : input.value } }),
      `Saved ${key}.`), "secondary", `Save ${key}`);
    return el("div", { className: "field" }, el("label", { for: id }, key.replaceAll("_", " "), el("span", { className: "hint" }, ` (default ${fallback})`)),
      el("div", { className: "endpoint" }, input, save));
  }));
}

let activityPage = 1;
async function showActivity() {
  const { data } = await api("/api/admin/activity", { query: { page: activityPage, limit: 20 } });
  $("#activity-table tbody").replaceChildren(...data.items.map((line) => el("tr", {},
    el("td", {}, format.when(line.time)), el("td", {}, line.actor || "–"), el("td", {}, line.action), el("td", {}, line.target || "–"), el("td", {}, line.address || "–"))));
  $("#activity-page").textContent = `Page ${data.pagination.page} of ${Math.max(1, data.pagination.pages)}`;
  $("#activity-prev").disabled = !data.pagination.has_prev;
  $("#activity-next").disabled = !data.pagination.has_next;
}

async function setUp() {
  me = await signedInPage();
  if (me.role !== "admin") {
    say("Administration is for administrators.", "error");
    return;
  }
  $("#user-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const body = { username: form.username.value, password: form.password.value, role: form.role.value };
    if (form.email.value) body.email = form.email.value;
    if (await attempt(() => api("/api/users", { method: "POST", body }), `Created ${body.username}.`)) {
      form.reset();
      showUsers();
    }
  });
  $("#probe").addEventListener("click", () => attempt(() => showCapacity(true), "Measured."));
  $("#requeue").addEventListener("click", () => attempt(() => onDeadLetters("requeue")));
  $("#purge").addEventListener("click", () => attempt(() => onDeadLetters("purge")));
  $("#activity-prev").addEventListener("click", () => { activityPage -= 1; attempt(showActivity); });
  $("#activity-next").addEventListener("click", () => { activityPage += 1; attempt(showActivity); });
  await Promise.all([showStats(), showCapacity(), showUsers(), showJobs(), showSettings(), showActivity()]);
  // Jobs move on their own: refresh them while the page is in view.
  setInterval(() => document.hidden || attempt(showJobs), 5000);
}

attempt(setUp);
