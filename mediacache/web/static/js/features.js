// What this server offers beyond API.md, read from its OpenAPI document (every route and parameter is in it), so
// the pages use the event stream, long-polls, loudness normalization, clips and collections only where they exist.
let documentPromise;

export function apiDocument() {
  documentPromise ??= fetch("/api/openapi.json").then((response) => response.json());
  return documentPromise;
}

/** The names an operation takes: its query parameters and the properties of its JSON body (refs resolved). */
function parameterNames(document, operation) {
  const names = new Set((operation?.parameters || []).filter((p) => p.in === "query").map((p) => p.name));
  let schema = operation?.requestBody?.content?.["application/json"]?.schema;
  if (schema?.$ref) schema = document.components?.schemas?.[schema.$ref.split("/").pop()];
  for (const name of Object.keys(schema?.properties || {})) names.add(name);
  return names;
}

export async function features() {
  const document = await apiDocument();
  const paths = document.paths || {};
  const queue = parameterNames(document, paths["/api/media/queue"]?.post);
  return {
    events: Boolean(paths["/api/events"]?.get),
    longPoll: parameterNames(document, paths["/api/media/{media_id}"]?.get).has("wait"),
    normalize: queue.has("normalize"),
    clip: queue.has("start") && queue.has("end"),
    // POST /api/collections takes the queue's parameters with a playlist, album or feed URL.
    collections: Boolean(paths["/api/collections"]?.post && paths["/api/collections/{collection_id}"]?.get),
  };
}
