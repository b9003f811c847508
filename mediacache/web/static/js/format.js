// How numbers, times and entries read on the pages.
export function bytes(value) {
  if (value === null || value === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit += 1;
  }
  return (unit === 0 ? size : size.toFixed(size < 10 ? 1 : 0)) + " " + units[unit];
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const whole = Math.max(0, Math.round(seconds));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

export function length(entry) {
  return entry.length_ms ? clock(entry.length_ms / 1000) : "–";
}

export function timeLeft(entry) {
  if (!entry.valid || !entry.expires_at) return "–";
  const seconds = (Date.parse(entry.expires_at) - Date.now()) / 1000;
  if (seconds <= 0) return "expired";
  if (seconds < 3600) return Math.ceil(seconds / 60) + " min";
  if (seconds < 172800) return (seconds / 3600).toFixed(1) + " h";
  return Math.round(seconds / 86400) + " days";
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "–";
}

export function rate(bytesPerSecond) {
  return bytesPerSecond ? bytes(bytesPerSecond) + "/s" : "–";
}

export function title(entry) {
  return entry.metadata?.title || entry.url;
}

export function artist(entry) {
  return entry.metadata?.artist || "–";
}

/** pending, downloading, …, completed; a served file adds its cache state. */
export function state(entry) {
  if (entry.error?.code === "CANCELLED") return "cancelled";
  if (entry.status === "completed" && entry.cache_state !== "live") return entry.cache_state;
  return entry.status;
}

/** "Artist - Title.ext", as the API's download route names the file. */
export function fileName(entry) {
  const name = [entry.metadata?.artist, entry.metadata?.title].filter(Boolean).join(" - ") || entry.id;
  return name.replace(/[\\/:*?"<>|\u0000-\u001f]/g, " ") + (entry.extension ? "." + entry.extension : "");
}

/** The progress line: phase, percent, speed and ETA. */
export function progressText(entry) {
  const p = entry.progress;
  if (entry.status === "pending") return "Waiting for a worker…";
  if (!p) return entry.status;
  if (p.stage === "waiting") {
    return `Retry ${p.attempts + 1} of ${p.max_attempts} in ${clock(p.eta)} (${p.last_error?.code || "error"})`;
  }
  const parts = [p.stage === "transcode" ? "Converting" : "Downloading"];
  if (p.percent !== null && p.percent !== undefined) parts.push(Math.floor(p.percent) + " %");
  if (p.speed) parts.push(rate(p.speed));
  if (p.eta !== null && p.eta !== undefined) parts.push("ETA " + clock(p.eta));
  return parts.join(" · ");
}

/** Overall percent: downloading counts for the first half, converting for the second. */
export function overallPercent(entry) {
  if (entry.status === "completed") return 100;
  const p = entry.progress;
  if (!p || p.percent === null || p.percent === undefined) return 0;
  return p.stage === "transcode" ? 50 + p.percent / 2 : p.percent / 2;
}
