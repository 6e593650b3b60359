/**
 * The test and debugging hook `window.vaDebug`:
 *   state    current state name (see states.js)
 *   pc       the current RTCPeerConnection (null between attempts)
 *   events   parsed server messages, oldest first (at most 200)
 *   spoken   {text, spoken, reason, at, ids} for every `say` handed to the speech code (at most 200)
 *   chips()  the texts of the chips shown, in order (the phone's: names in the child's language)
 * and, for convenience: detail (reason/message/retryIn of the state), session, sent (messages
 * sent to the server, at most 200), camera (the local MediaStream), remote (the returned one),
 * loading (the server's last `loading` from GET /api/status while getting ready, see ready.js),
 * path (the route this page sees, PeerLink.connectionPath(), refreshed on every `stats`).
 * The class screen's `window.vaScreen` has the same shape (chips(): the names it shows), plus
 * `room`, the room's last state.
 */

/** How many events, spoken texts and sent messages are kept. */
export const DEBUG_CAP = 200;

/**
 * Append to a list in place, dropping the oldest beyond `cap`.
 * @template T
 * @param {T[]} list
 * @param {T} item
 * @param {number} [cap]
 */
export function pushCapped(list, item, cap = DEBUG_CAP) {
  list.push(item);
  if (list.length > cap) list.splice(0, list.length - cap);
}

/**
 * Create the debug object (the caller assigns it to window.vaDebug).
 * @param {() => string[]} chips returns the chip labels
 */
export function createDebug(chips) {
  return {
    state: "idle",
    detail: {},
    /** @type {RTCPeerConnection | null} */
    pc: null,
    session: "",
    /** @type {object[]} */
    events: [],
    /** @type {object[]} */
    spoken: [],
    /** @type {object[]} */
    sent: [],
    /** @type {MediaStream | null} */
    camera: null,
    /** @type {MediaStream | null} */
    remote: null,
    /** @type {{step: number, steps: number, doing: string} | null} */
    loading: null,
    /** @type {{path: string, protocol: string, local: string, remote: string} | null} */
    path: null,
    /** @returns {string[]} */
    chips() {
      return chips();
    },
  };
}
