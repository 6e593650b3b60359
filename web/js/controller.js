/**
 * The connection state machine (see states.js for the diagram). It owns the camera stream, the
 * current PeerLink and every timer; it knows nothing about the DOM and reports through hooks.
 *
 * Every attempt gets a generation number; tearing down (reconnect, stop) bumps it, so late
 * callbacks and promise results of an old attempt are ignored. The camera stream is kept across
 * reconnects and only reopened when its track has ended.
 */

import { backoffDelayMs } from "./backoff.js";
import { CameraError, openCamera, stopStream } from "./camera.js";
import { LinkClosedError, PeerLink, RelayUnreachableError } from "./peer.js";
import { OfferRejectedError, ServerBusyError } from "./signalling.js";
import { STARTABLE, State } from "./states.js";

/** After the answer, the data channel must open within this time or we reconnect. */
export const CONNECT_TIMEOUT_MS = 15000;
/** Frozen-picture watchdog: how often to look, how long without a new frame is a stall. */
export const STALL_CHECK_MS = 2000;
export const STALL_LIMIT_MS = 10000;
/** Live but no video frame at all for this long: reconnect. */
export const FIRST_FRAME_LIMIT_MS = 20000;
/**
 * The server sends `stats` every second: this long without any message means the path is gone
 * (a phone moving from Wi-Fi to mobile data may not see its ICE state change for much longer).
 */
export const SILENCE_LIMIT_MS = 2500;
export const SILENCE_CHECK_MS = 500;
/** The first attempt after a live connection broke waits only this long (then back-off). */
export const QUICK_RECONNECT_MS = 300;

/**
 * @typedef {object} ControllerHooks
 * @property {(state: string, detail: object) => void} [onState] every state change (and countdown tick)
 * @property {(pc: RTCPeerConnection | null) => void} [onPeer] a new peer connection, or null when torn down
 * @property {(stream: MediaStream | null) => void} [onCamera] the camera stream, or null when released
 * @property {(stream: MediaStream) => void} [onRemoteStream] the annotated video from the server
 * @property {() => void} [onOpen] the data channel opened (send the page's settings now)
 * @property {(text: string) => void} [onMessage] a raw data-channel message
 * @property {(session: string) => void} [onSession] the server's session id from the answer
 * @property {{room?: string, role?: string, name?: string, resume?: string}} [params] extra fields
 *           for the offer (`resume`: the token from the last `hello`, to take that session's place)
 * @property {() => boolean} [isHidden] page hidden: pause the stall watchdog
 * @property {typeof openCamera} [openCamera] for tests
 * @property {typeof PeerLink} [PeerLink] for tests
 * @property {(attempt: number) => number} [backoff] reconnect delay in ms
 */

export class Controller {
  /** @param {ControllerHooks} [hooks] */
  constructor(hooks = {}) {
    this.hooks = hooks;
    /** Current state name (see State). */
    this.state = State.IDLE;
    /** Extra facts about the state: reason, message, retryIn (s), attempt. */
    this.detail = {};
    /** Session id of the current connection ("" before an answer). */
    this.session = "";
    this.gen = 0;
    this.attempt = 0;
    /** @type {PeerLink | null} */
    this.link = null;
    /** @type {MediaStream | null} */
    this.stream = null;
    /** @type {Set<ReturnType<typeof setTimeout>>} */
    this.timers = new Set();
    /** When the server last said anything on the data channel (ms). */
    this.heardAt = 0;
  }

  /** The current RTCPeerConnection, or null between attempts. */
  get pc() {
    return this.link ? this.link.pc : null;
  }

  /**
   * Start from idle, camera-blocked or error (the Start / Try again button). No-op otherwise.
   * @returns {boolean} whether an attempt started
   */
  start() {
    if (!STARTABLE.includes(this.state)) return false;
    if (!this.hooks.PeerLink && typeof globalThis.RTCPeerConnection !== "function") {
      this.setState(State.ERROR, { reason: "unsupported", message: "no RTCPeerConnection" });
      return false;
    }
    this.attempt = 0;
    this.setState(State.CONNECTING, {});
    this.connect();
    return true;
  }

  /** Tear everything down, release the camera, go idle (pagehide, Stop). */
  stop() {
    this.invalidate();
    this.releaseCamera();
    this.session = "";
    this.setState(State.IDLE, {});
  }

  /**
   * Stop for good with an error the page explains (the teacher ended the class or removed this
   * phone): no reconnecting, the camera released. "Try again" (if shown) starts afresh.
   * @param {string} reason one of the error reasons in states.js
   */
  finish(reason) {
    this.invalidate();
    this.releaseCamera();
    this.session = "";
    this.setState(State.ERROR, { reason });
  }

  /**
   * While "getting ready" counts down to asking the server again: ask now (the page learnt
   * from GET /api/status that the models are ready). No-op in any other state.
   * @returns {boolean} whether an attempt started
   */
  retryNow() {
    if (this.state !== State.SERVER_STARTING) return false;
    this.invalidate(); // cancels the countdown
    this.setState(State.CONNECTING, {});
    this.connect();
    return true;
  }

  /**
   * Send a message to the server on the data channel.
   * @param {object} message
   * @returns {boolean} false when not connected
   */
  send(message) {
    return this.link ? this.link.send(message) : false;
  }

  // ---- internals -------------------------------------------------------------------------

  /** @private */
  setState(state, detail) {
    this.state = state;
    this.detail = detail || {};
    try {
      this.hooks.onState?.(state, this.detail);
    } catch (error) {
      console.error("[va] onState hook failed", error);
    }
  }

  /** @private Close the current attempt and cancel timers; returns the new generation. */
  invalidate() {
    this.gen += 1;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    if (this.link) {
      this.link.close();
      this.link = null;
      this.hooks.onPeer?.(null);
    }
    return this.gen;
  }

  /** @private Run `fn` after `ms` unless the generation changed meanwhile. */
  after(gen, ms, fn) {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (gen === this.gen) fn();
    }, ms);
    this.timers.add(timer);
  }

  /** @private One attempt: camera (kept if still live), peer, offer/answer. */
  connect() {
    const gen = this.invalidate();
    this.session = "";
    this.runAttempt(gen).catch((error) => {
      if (gen === this.gen) this.fail(error);
    });
  }

  /** @private */
  async runAttempt(gen) {
    const stream = await this.ensureCamera(gen);
    const Link = this.hooks.PeerLink || PeerLink;
    const link = new Link({
      stream,
      onOpen: () => gen === this.gen && this.opened(gen),
      onMessage: (text) => {
        if (gen !== this.gen) return;
        this.heardAt = Date.now();
        this.hooks.onMessage?.(text);
      },
      onTrack: (remote) => gen === this.gen && this.hooks.onRemoteStream?.(remote),
      onDown: (reason) => this.lost(gen, reason),
    });
    this.link = link;
    this.hooks.onPeer?.(link.pc);
    const params = this.hooks.params || {};
    const session = await link.negotiate({
      room: params.room,
      role: params.role,
      name: params.name,
      resume: params.resume,
    });
    if (gen !== this.gen) return;
    this.session = session;
    this.hooks.onSession?.(session);
    if (this.state !== State.LIVE) {
      this.after(gen, CONNECT_TIMEOUT_MS, () => this.lost(gen, "the data channel did not open in time"));
    }
  }

  /** @private Reuse the camera while its track is live, otherwise open it again. */
  async ensureCamera(gen) {
    const track = this.stream && this.stream.getVideoTracks()[0];
    if (track && track.readyState === "live") return /** @type {MediaStream} */ (this.stream);
    this.releaseCamera();
    const stream = await (this.hooks.openCamera || openCamera)();
    if (gen !== this.gen) {
      stopStream(stream);
      throw new LinkClosedError();
    }
    this.stream = stream;
    const video = stream.getVideoTracks()[0];
    video?.addEventListener("ended", () => this.cameraEnded(stream));
    this.hooks.onCamera?.(stream);
    return stream;
  }

  /** @private */
  releaseCamera() {
    if (!this.stream) return;
    stopStream(this.stream);
    this.stream = null;
    this.hooks.onCamera?.(null);
  }

  /** @private The camera stopped by itself (another app, permission revoked, device gone). */
  cameraEnded(stream) {
    if (stream !== this.stream) return;
    console.warn("[va] camera track ended");
    this.stream = null;
    this.hooks.onCamera?.(null);
    if ([State.LIVE, State.CONNECTING, State.RECONNECTING].includes(this.state)) {
      this.scheduleReconnect("the camera stopped");
    }
  }

  /** @private The data channel is open: we are live. */
  opened(gen) {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.attempt = 0;
    this.setState(State.LIVE, {});
    this.watchStalls(gen);
    this.watchSilence(gen);
    try {
      this.hooks.onOpen?.();
    } catch (error) {
      console.error("[va] onOpen hook failed", error);
    }
  }

  /** @private The peer or channel of generation `gen` went down. */
  lost(gen, reason) {
    if (gen !== this.gen) return;
    if (![State.CONNECTING, State.LIVE, State.RECONNECTING].includes(this.state)) return;
    console.warn("[va] connection lost:", reason);
    this.scheduleReconnect(reason, this.state === State.LIVE);
  }

  /** @private An attempt failed; pick the state the failure calls for. */
  fail(error) {
    if (error instanceof LinkClosedError) return;
    if (error instanceof CameraError) {
      this.invalidate();
      this.releaseCamera();
      const state = error.reason === "blocked" ? State.CAMERA_BLOCKED : State.ERROR;
      this.setState(state, { reason: error.reason, message: error.message });
      return;
    }
    if (error instanceof ServerBusyError) {
      this.busy(
        error.retryAfterS,
        error.reason === "starting" ? State.SERVER_STARTING : State.SERVER_BUSY,
        error.reason,
      );
      return;
    }
    if (error instanceof RelayUnreachableError) {
      // no candidate at all and the TURN server refused us (or is unreachable): retrying the
      // same credentials cannot help; the page says so, with a line for the teacher
      this.invalidate();
      this.setState(State.ERROR, { reason: "network", turn: error.kind, message: error.message });
      return;
    }
    if (error instanceof OfferRejectedError) {
      this.invalidate();
      this.setState(State.ERROR, { reason: refusalReason(error), message: error.message, status: error.status });
      return;
    }
    console.warn("[va] connection attempt failed:", error);
    this.scheduleReconnect((error && error.message) || String(error));
  }

  /** @private 503/429: "getting ready" (models loading) or "server busy", counting down. */
  busy(seconds, state = State.SERVER_BUSY, reason = "") {
    const gen = this.invalidate();
    this.countdown(gen, state, seconds * 1000, reason ? { reason } : {}, () => {
      this.setState(State.CONNECTING, {});
      this.connect();
    });
  }

  /**
   * @private Tear down, wait the back-off delay (counting down), then try again; `quick`: a
   * live connection just broke, so the first attempt goes almost at once.
   */
  scheduleReconnect(reason, quick = false) {
    const gen = this.invalidate();
    const delay =
      quick && this.attempt === 0 ? QUICK_RECONNECT_MS : (this.hooks.backoff || backoffDelayMs)(this.attempt);
    this.attempt += 1;
    this.countdown(gen, State.RECONNECTING, delay, { reason, attempt: this.attempt }, () => this.connect());
  }

  /** @private Enter `state` with detail.retryIn counting down each second, then call `then`. */
  countdown(gen, state, ms, detail, then) {
    const end = Date.now() + ms;
    const tick = () => {
      const left = end - Date.now();
      if (left <= 0) {
        then();
        return;
      }
      this.setState(state, { ...detail, retryIn: Math.ceil(left / 1000), until: end });
      this.after(gen, left % 1000 || 1000, tick);
    };
    tick();
  }

  /** @private Reconnect when the server has said nothing for SILENCE_LIMIT_MS (page visible). */
  watchSilence(gen) {
    this.heardAt = Date.now();
    const check = () => {
      if (gen !== this.gen) return;
      const now = Date.now();
      // a hidden page's timers are throttled: its silence proves nothing
      if (this.hooks.isHidden && this.hooks.isHidden()) this.heardAt = now;
      if (now - this.heardAt > SILENCE_LIMIT_MS) {
        this.lost(gen, "the server went quiet");
        return;
      }
      this.after(gen, SILENCE_CHECK_MS, check);
    };
    this.after(gen, SILENCE_CHECK_MS, check);
  }

  /** @private Reconnect when the returned picture freezes while the camera is running. */
  watchStalls(gen) {
    const liveSince = Date.now();
    let lastFrames = 0;
    let lastChange = liveSince;
    const check = async () => {
      const link = this.link;
      if (!link || gen !== this.gen) return;
      const track = this.stream && this.stream.getVideoTracks()[0];
      const hidden = this.hooks.isHidden ? this.hooks.isHidden() : false;
      if (hidden || !track || track.muted) {
        lastChange = Date.now();
      } else {
        let frames = null;
        try {
          frames = await link.framesDecoded();
        } catch (error) {
          console.warn("[va] getStats failed", error);
        }
        if (gen !== this.gen) return;
        const now = Date.now();
        if (frames !== null && frames > lastFrames) {
          lastFrames = frames;
          lastChange = now;
        } else if (frames !== null) {
          const stalled = lastFrames === 0 ? now - liveSince > FIRST_FRAME_LIMIT_MS : now - lastChange > STALL_LIMIT_MS;
          if (stalled) {
            this.lost(gen, lastFrames === 0 ? "no video from the server" : "the video froze");
            return;
          }
        }
      }
      this.after(gen, STALL_CHECK_MS, run);
    };
    const run = () => {
      check().catch((error) => console.warn("[va] stall check failed", error));
    };
    this.after(gen, STALL_CHECK_MS, run);
  }
}

/**
 * What a refused offer means for the child: a room's refusals get their own words (states.js).
 * @param {OfferRejectedError} error
 * @returns {string}
 */
export function refusalReason(error) {
  if (error.reason === "removed") return "removed";
  if (error.reason === "locked") return "locked";
  if (error.status === 404 || error.reason === "unknown_room") return "no-room";
  return "server";
}
