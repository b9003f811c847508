// What this server offers beyond API.md, read from its OpenAPI document (every route and parameter is in it), so
// the pages use the event stream, long-polls, loudness normalization, clips and collections only where they exist.
let documentPromise;

export function apiDocument() {
  documentPromise ??= fetch("/api/openapi.json").then((response) => response.json());
  return documentPromise;
}

function queryNames(operation) {
  return new Set((operation?.parameters || []).filter((p) => p.in === "query").map((p) => p.name));
}

export async function features() {
  const paths = (await apiDocument()).paths || {};
  const queue = queryNames(paths["/api/media/queue"]?.post);
  return {
    events: Boolean(paths["/api/events"]?.get),
    longPoll: queryNames(paths["/api/media/{media_id}"]?.get).has("wait"),
    normalize: queue.has("normalize"),
    clip: queue.has("start") && queue.has("end"),
    // The queue parameter naming a collection, if the server has collections.
    collectionParam: paths["/api/collections"]?.get ? [...queue].find((name) => name.startsWith("collection")) : undefined,
  };
}
