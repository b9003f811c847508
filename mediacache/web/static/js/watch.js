// Follows entries live. With GET /api/events (an SSE stream read through fetch(), since EventSource cannot send the
// Authorization header) every change arrives as it happens; without it, GET /api/media/<id> is polled (a long-poll
// with ?wait= where the server offers it).
import { api, session, signInAgain } from "./api.js";
import { features } from "./features.js";

const FINAL = new Set(["completed", "failed"]);
const watchers = new Map(); // entry id → Set of callbacks
let stream; // undefined: not tried; a promise resolving to true while the stream is up, false if there is none

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function deliver(entry) {
  for (const callback of watchers.get(entry.id) || []) callback(entry);
}

async function readStream(response) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, newline).replace(/\r$/, "");
      buffer = buffer.slice(newline + 1);
      if (line === "") {
        if (data.length && event.startsWith("media.")) {
          try {
            // {"event", "id", "at", "entry"}: the entry as GET /api/media/<id> renders it.
            const frame = JSON.parse(data.join("\n"));
            if (frame?.entry?.id) deliver(frame.entry);
          } catch {
            // not an entry: ignore
          }
        }
        event = "message";
        data = [];
      } else if (line.startsWith("event:")) {
        event = line.slice(6).trim();
      } else if (line.startsWith("data:")) {
        data.push(line.slice(5).replace(/^ /, ""));
      }
    }
  }
}

async function openStream() {
  if (!(await features()).events) return false;
  const response = await fetch("/api/events", {
    headers: { Authorization: "Bearer " + session.token(), Accept: "text/event-stream" },
  });
  if (response.status === 401) {
    signInAgain((await response.json().catch(() => null))?.error?.code || "UNAUTHORIZED");
    return false;
  }
  if (response.status !== 200 || !(response.headers.get("Content-Type") || "").startsWith("text/event-stream")) {
    await response.body?.cancel();
    return false;
  }
  readStream(response)
    .catch(() => undefined)
    .finally(() => {
      stream = undefined; // reconnect on the next watch; entries being watched fall back to polling meanwhile
    });
  return true;
}

async function follow(id, isWatched) {
  const { longPoll } = await features();
  let last;
  while (isWatched()) {
    const started = Date.now();
    let entry;
    try {
      // With the stream up, a slow poll only guards against an event missed before it connected.
      const streaming = await (stream ??= openStream());
      if (streaming && last) await pause(15000);
      if (!isWatched()) return;
      const wait = longPoll && last && !streaming ? { wait: 20 } : undefined;
      entry = (await api(`/api/media/${encodeURIComponent(id)}`, { query: wait })).data;
    } catch (error) {
      if (error.status === 404 || error.status === 401) return;
      await pause(2000);
      continue;
    }
    last = entry;
    deliver(entry);
    if (FINAL.has(entry.status)) return;
    await pause(Math.max(0, 700 - (Date.now() - started)));
  }
}

/** Call ``callback`` with the entry now and at each change until it completes or fails; returns a stop function. */
export function watch(id, callback) {
  let active = true;
  const mine = (entry) => {
    if (!active) return;
    callback(entry);
    if (FINAL.has(entry.status)) stop();
  };
  const stop = () => {
    active = false;
    watchers.get(id)?.delete(mine);
  };
  if (!watchers.has(id)) watchers.set(id, new Set());
  watchers.get(id).add(mine);
  follow(id, () => active).catch(() => undefined); // the page says nothing new rather than throw
  return stop;
}
