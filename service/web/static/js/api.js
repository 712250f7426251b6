// The REST API with the user's bearer token (docs/api.md). The token lives in sessionStorage only: never in a URL,
// never logged. Every failure becomes an ApiError carrying the API's own message.

const TOKEN_KEY = "depthal.token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let onAuthFailure = () => {};

/** Called with the ApiError when the API answers 401 (and 403, unless the request said `own403`). */
export function setAuthFailureHandler(fn) {
  onAuthFailure = fn;
}

async function detailOf(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) {
      // FastAPI's validation list: "body.reason: String should have at most 500 characters"
      return body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    }
  } catch {
    // not JSON: fall through to the status line
  }
  return `${response.status} ${response.statusText}${text ? `: ${text.slice(0, 200)}` : ""}`;
}

/**
 * request("POST", "/projects/1/queue/next") → parsed JSON, or null for 204.
 * opts: json (a body to send as JSON), body + contentType (raw), raw (return the Response), own403 (the caller
 * handles 403 itself instead of returning to sign-in), signal.
 */
export async function request(method, path, opts = {}) {
  const headers = { Authorization: `Bearer ${token.get() || ""}` };
  let body = opts.body;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.contentType) {
    headers["Content-Type"] = opts.contentType;
  }
  let response;
  try {
    response = await fetch(path, { method, headers, body, signal: opts.signal, cache: "no-store" });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, `Network error: the server did not answer ${method} ${path}. Nothing was lost; try again.`);
  }
  if (!response.ok) {
    const error = new ApiError(response.status, await detailOf(response));
    if (response.status === 401 || (response.status === 403 && !opts.own403)) onAuthFailure(error);
    throw error;
  }
  if (opts.raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

/** An image-like resource (PNG/JPEG) fetched with the token and decoded without colour management. */
export async function fetchBitmap(path, opts = {}) {
  const response = await request("GET", path, { ...opts, raw: true });
  const blob = await response.blob();
  return createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
}
