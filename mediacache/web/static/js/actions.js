// What can be done to an entry: delete (soft or hard), restore, retry. Each resolves to the entry afterwards.
import { api } from "./api.js";

export async function remove(entry, hard) {
  const query = { hard: hard ? "true" : undefined, force: entry.status === "completed" || entry.status === "failed" ? undefined : "true" };
  await api(`/api/media/${entry.id}`, { method: "DELETE", query });
  return (await api(`/api/media/${entry.id}`)).data;
}

/** Queue the same URL and variant again: a retained file comes back without a download. */
export async function restore(entry) {
  const body = { url: entry.url, profile: entry.profile };
  if (entry.bitrate) body.bitrate = entry.bitrate;
  if (entry.resolution) body.resolution = entry.resolution;
  if (entry.ttl) body.ttl = entry.ttl;
  // Loudness target and clip are part of the variant too.
  for (const name of ["normalize", "start", "end"]) {
    if (entry[name] !== null && entry[name] !== undefined) body[name] = entry[name];
  }
  return (await api("/api/media/queue", { method: "POST", body })).data;
}

export async function retry(entry) {
  return (await api(`/api/media/${entry.id}/retry`, { method: "POST" })).data;
}

/** Which actions fit the entry's state, for a user who may change it. */
export function fitting(entry) {
  const live = entry.status === "completed" && entry.cache_state === "live";
  const gone = entry.status === "completed" && ["expired", "deleted", "purged", "none"].includes(entry.cache_state);
  return {
    delete: live || entry.status === "pending" || entry.status === "downloading" || entry.status === "processing",
    hardDelete: entry.status === "completed" && ["live", "expired", "deleted"].includes(entry.cache_state),
    restore: gone,
    retry: entry.status === "failed",
  };
}
