// An entry's file in the page: an <audio> or <video> element, its URL to copy, a download link.
import { fileName } from "./format.js";
import { el, say } from "./layout.js";

async function copy(text, field) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Not a secure context (plain HTTP to another host): select the text, the user copies it.
    field.select();
    say("Press Ctrl+C to copy the URL.");
    return;
  }
  say("Copied " + text);
}

/** The player and its URL for a served entry (nothing for one that is not served). */
export function player(entry, { autoplay = false } = {}) {
  if (!entry.valid || !entry.path) return el("p", {}, "Not served right now.");
  const kind = (entry.mime_type || "").startsWith("video/") ? "video" : "audio";
  // The same-origin path plays even where the public URL is not reachable from this browser.
  const media = el(kind, { controls: true, preload: "metadata", src: entry.path, className: "player" });
  media.setAttribute("aria-label", "Play " + (entry.metadata?.title || "entry"));
  if (autoplay) media.autoplay = true;
  const url = entry.endpoints?.[0] || new URL(entry.path, location.href).href;
  const field = el("input", { value: url, readOnly: true, className: "endpoint-url", "aria-label": "File URL" });
  const copyButton = el("button", { type: "button", className: "secondary" }, "Copy URL");
  copyButton.addEventListener("click", () => copy(url, field));
  const download = el("a", { href: entry.path, download: fileName(entry), className: "download" }, "Download");
  return el("div", { className: "player-box" }, media, el("div", { className: "endpoint" }, field, copyButton, download));
}
