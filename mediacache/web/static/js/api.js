// The JSON API as the pages use it: the token from sessionStorage in the Authorization header, errors as ApiError.
const TOKEN = "mediacache.token";
const USER = "mediacache.user";
const NOTICE = "mediacache.notice";

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details || {};
  }
}

export const session = {
  token: () => sessionStorage.getItem(TOKEN),
  user: () => JSON.parse(sessionStorage.getItem(USER) || "null"),
  isAdmin: () => session.user()?.role === "admin",
  start(token, user) {
    sessionStorage.setItem(TOKEN, token);
    sessionStorage.setItem(USER, JSON.stringify(user));
  },
  end(notice) {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(USER);
    if (notice) sessionStorage.setItem(NOTICE, notice);
  },
  takeNotice() {
    const notice = sessionStorage.getItem(NOTICE);
    sessionStorage.removeItem(NOTICE);
    return notice;
  },
};

const SIGNED_OUT = {
  TOKEN_EXPIRED: "Your session has expired. Sign in again.",
  TOKEN_REVOKED: "Your session was ended (signed out, password changed or account disabled). Sign in again.",
};

/** Back to the sign-in page, saying why (a first visit needs no reason); then come back here. */
export function signInAgain(code) {
  session.end(code === undefined ? undefined : SIGNED_OUT[code] || "Sign in again to continue.");
  const back = location.pathname + location.search;
  location.assign("/sign-in" + (back === "/" ? "" : "?next=" + encodeURIComponent(back)));
}

/** One API call: JSON in and out; a 401 sends the user to sign in again. */
export async function api(path, { method = "GET", body, query, signal, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  const token = session.token();
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, value);
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const response = await fetch(url, { method, headers, signal, body: body === undefined ? undefined : JSON.stringify(body) });
  if (raw) return response;
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (response.status === 401 && token && !path.startsWith("/api/login")) {
    signInAgain(data?.error?.code || "UNAUTHORIZED");
    throw new ApiError(401, data?.error?.code || "UNAUTHORIZED", "Signed out");
  }
  if (!response.ok && !(response.status === 409 && data?.id)) {
    const error = data?.error || {};
    throw new ApiError(response.status, error.code || "HTTP_" + response.status, error.message || response.statusText, error.details);
  }
  return { status: response.status, data };
}

let serviceInfo;
/** GET /api once per page: profiles, limits, and which optional queue parameters this server takes. */
export function service() {
  serviceInfo ??= api("/api").then((answer) => answer.data);
  return serviceInfo;
}
