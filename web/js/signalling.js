/**
 * Signalling: wait for ICE gathering (the server does not trickle ICE), then POST the offer to
 * /api/offer and return the answer. HTTP failures become typed errors the state machine uses:
 * ServerBusyError (503/429, retry after the server's Retry-After), OfferRejectedError (other
 * 4xx: retrying will not help), ServerUnavailableError (network, timeout, 5xx, bad answer:
 * retry with back-off).
 */

/** Where offers go, relative to the page's origin. */
export const OFFER_URL = "/api/offer";
/** Seconds to wait when a 503 carries no usable Retry-After. */
export const DEFAULT_RETRY_AFTER_S = 5;
const MAX_RETRY_AFTER_S = 300;

/** The server is at capacity; try again after `retryAfterS` seconds. */
export class ServerBusyError extends Error {
  /** @param {number} retryAfterS @param {string} [message] @param {string} [reason] the
   *  server's reason: "starting" while its models load, else it is full */
  constructor(retryAfterS, message = "server busy", reason = "") {
    super(message);
    this.name = "ServerBusyError";
    this.retryAfterS = retryAfterS;
    this.reason = reason;
  }
}

/** The server refused the offer (HTTP 4xx other than 429): a retry as-is would fail again. */
export class OfferRejectedError extends Error {
  /** @param {number} status @param {string} message @param {string} [reason] the server's
   *  reason (a room's: "removed", "locked", "unknown_room"; a class screen's: "screen_token") */
  constructor(status, message, reason = "") {
    super(message);
    this.name = "OfferRejectedError";
    this.status = status;
    this.reason = reason;
  }
}

/** The server could not be reached or answered badly; worth retrying later. */
export class ServerUnavailableError extends Error {
  /** @param {string} message @param {number} [status] */
  constructor(message, status = 0) {
    super(message);
    this.name = "ServerUnavailableError";
    this.status = status;
  }
}

/**
 * Parse a Retry-After header: delta-seconds or an HTTP date.
 * @param {string | null | undefined} header
 * @param {number} [fallbackS] used when the header is missing or unusable
 * @param {number} [now] ms since the epoch, for HTTP dates
 * @returns {number} whole seconds, 1..300
 */
export function parseRetryAfter(header, fallbackS = DEFAULT_RETRY_AFTER_S, now = Date.now()) {
  let seconds = NaN;
  const text = (header ?? "").trim();
  if (/^\d+(\.\d+)?$/.test(text)) {
    seconds = Number(text);
  } else if (text) {
    const at = Date.parse(text);
    if (Number.isFinite(at)) seconds = (at - now) / 1000;
  }
  if (!Number.isFinite(seconds)) seconds = fallbackS;
  return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(seconds)));
}

/**
 * Resolve when ICE gathering is complete, or after `timeoutMs` (whatever was gathered is used).
 * Never rejects.
 * @param {RTCPeerConnection} pc
 * @param {number} [timeoutMs]
 * @returns {Promise<void>}
 */
export function waitForIceGathering(pc, timeoutMs = 3000) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}

/**
 * POST an offer and return the server's answer.
 * @param {{sdp: string, type: string}} offer the local description after ICE gathering
 * @param {{room?: string, role?: string, screen?: string, name?: string, resume?: string, url?: string,
 *          timeoutMs?: number, signal?: AbortSignal, fetchImpl?: typeof fetch}} [options]
 * @returns {Promise<{sdp: string, type: "answer", session: string}>} rejects with one of the errors above
 *          (or an AbortError when `signal` aborts)
 */
export async function postOffer(offer, options = {}) {
  const { room, role, screen, name, resume, url = OFFER_URL, timeoutMs = 15000, signal, fetchImpl = globalThis.fetch } = options;
  const body = { sdp: offer.sdp, type: offer.type };
  if (room) body.room = room;
  if (role) body.role = role;
  if (screen) body.screen = screen; // a class screen's key, from the teacher's link
  if (name) body.name = name; // what the teacher's page calls this phone
  if (resume) body.resume = resume; // take the broken session's place (its token from `hello`)

  const controller = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const forward = () => controller.abort();
  signal?.addEventListener("abort", forward);
  let response;
  try {
    response = await fetchImpl(url, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: controller.signal,
      cache: "no-store",
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ServerUnavailableError(timedOut ? "the server did not answer in time" : `cannot reach the server (${error && error.message})`);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", forward);
  }

  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  const serverMessage = data && typeof data.error === "string" ? data.error.slice(0, 200) : "";

  if (response.status === 503 || response.status === 429) {
    const reason = data && typeof data.reason === "string" ? data.reason : "";
    throw new ServerBusyError(
      parseRetryAfter(response.headers.get("Retry-After")),
      serverMessage || "server busy",
      reason,
    );
  }
  if (response.status >= 400 && response.status < 500) {
    const reason = data && typeof data.reason === "string" ? data.reason : "";
    throw new OfferRejectedError(response.status, serverMessage || `HTTP ${response.status}`, reason);
  }
  if (!response.ok) {
    throw new ServerUnavailableError(serverMessage || `HTTP ${response.status}`, response.status);
  }
  if (!data || typeof data.sdp !== "string" || data.type !== "answer") {
    throw new ServerUnavailableError("the server's answer was not an SDP answer", response.status);
  }
  return { sdp: data.sdp, type: "answer", session: typeof data.session === "string" ? data.session : "" };
}
