/**
 * One connection attempt to the server: a single RTCPeerConnection carrying the camera track on
 * a sendrecv transceiver (the annotated video comes back on the same transceiver) and the
 * ordered "events" data channel, created before the offer.
 *
 * A PeerLink reports "down" at most once (peer disconnected/failed/closed, channel closed or
 * errored) and never after its own close().
 */

import { postOffer, waitForIceGathering } from "./signalling.js";

/** Where the server says which STUN/TURN servers to use (fresh TURN credentials each time). */
export const ICE_URL = "/api/ice";

/**
 * The server's ICE configuration ({iceServers, iceTransportPolicy}), asked before every
 * connection attempt because TURN credentials expire. Any failure gives `{iceServers: []}` with
 * a console note: host candidates still work on a LAN, which is better than no attempt at all.
 * @param {{fetchImpl?: typeof fetch, timeoutMs?: number, url?: string}} [options]
 * @returns {Promise<{iceServers: RTCIceServer[], iceTransportPolicy?: RTCIceTransportPolicy}>}
 */
export async function fetchIceConfig(options = {}) {
  const { fetchImpl = globalThis.fetch, timeoutMs = 3000, url = ICE_URL } = options;
  try {
    const response = await fetchImpl(url, { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    if (!Array.isArray(body.iceServers)) throw new Error("no iceServers in the answer");
    const policy = body.iceTransportPolicy === "relay" ? "relay" : "all";
    return { iceServers: body.iceServers, iceTransportPolicy: policy };
  } catch (error) {
    console.info("[va] no ICE servers from the server; trying the local network only:", error);
    return { iceServers: [] };
  }
}

/** Name of the data channel the server listens to. */
export const CHANNEL_NAME = "events";

/** Thrown by negotiate() when the link was closed while negotiating. */
export class LinkClosedError extends Error {
  constructor() {
    super("connection attempt cancelled");
    this.name = "LinkClosedError";
  }
}

export class PeerLink {
  /**
   * @param {{
   *   stream: MediaStream,
   *   onTrack?: (stream: MediaStream, track: MediaStreamTrack) => void,
   *   onOpen?: () => void,
   *   onMessage?: (text: string) => void,
   *   onDown?: (reason: string) => void,
   *   rtcConfig?: RTCConfiguration,
   *   PeerConnection?: typeof RTCPeerConnection,
   * }} options
   */
  constructor(options) {
    const PC = options.PeerConnection || globalThis.RTCPeerConnection;
    if (typeof PC !== "function") throw new Error("RTCPeerConnection is not available");
    this.closed = false;
    this.downReported = false;
    this.options = options;
    this.abort = new AbortController();
    /** @type {RTCPeerConnection} */
    this.pc = new PC(options.rtcConfig || {});

    const track = options.stream.getVideoTracks()[0];
    if (!track) throw new Error("the camera stream has no video track");
    this.pc.addTransceiver(track, { direction: "sendrecv", streams: [options.stream] });

    /** @type {RTCDataChannel} */
    this.channel = this.pc.createDataChannel(CHANNEL_NAME, { ordered: true });
    this.channel.onopen = () => {
      if (!this.closed) options.onOpen?.();
    };
    this.channel.onmessage = (event) => {
      if (!this.closed && typeof event.data === "string") options.onMessage?.(event.data);
    };
    this.channel.onclose = () => this.down("data channel closed");
    this.channel.onerror = (event) => {
      const detail = event && event.error ? `: ${event.error.message}` : "";
      this.down("data channel error" + detail);
    };

    this.pc.ontrack = (event) => {
      if (this.closed || event.track.kind !== "video") return;
      const stream = event.streams && event.streams[0] ? event.streams[0] : new MediaStream([event.track]);
      options.onTrack?.(stream, event.track);
    };
    this.pc.onconnectionstatechange = () => {
      const s = this.pc.connectionState;
      if (s === "disconnected" || s === "failed" || s === "closed") this.down(`connection ${s}`);
    };
    this.pc.oniceconnectionstatechange = () => {
      const s = this.pc.iceConnectionState;
      if (s === "failed" || s === "closed") this.down(`ICE ${s}`);
    };
  }

  /**
   * Offer, gather ICE, POST to the server, apply the answer.
   * @param {{room?: string, role?: string, iceTimeoutMs?: number, url?: string}} [params]
   * @returns {Promise<string>} the server's session id; rejects with signalling errors or LinkClosedError
   */
  async negotiate(params = {}) {
    const pc = this.pc;
    if (!this.options.rtcConfig && typeof pc.setConfiguration === "function") {
      // the pc exists from the constructor (the controller shows it at once); servers and policy
      // may still change before the offer starts gathering
      const ice = await fetchIceConfig();
      this.check();
      pc.setConfiguration({ ...pc.getConfiguration(), ...ice });
    }
    const offer = await pc.createOffer();
    this.check();
    await pc.setLocalDescription(offer);
    this.check();
    await waitForIceGathering(pc, params.iceTimeoutMs ?? 3000);
    this.check();
    const local = pc.localDescription;
    if (!local) throw new Error("no local description after gathering");
    const answer = await postOffer(
      { sdp: local.sdp, type: local.type },
      { room: params.room, role: params.role, name: params.name, url: params.url, signal: this.abort.signal },
    );
    this.check();
    await pc.setRemoteDescription({ type: answer.type, sdp: answer.sdp });
    this.check();
    return answer.session;
  }

  /** @private */
  check() {
    if (this.closed) throw new LinkClosedError();
  }

  /**
   * Send a JSON message on the data channel.
   * @param {object} message
   * @returns {boolean} false when the channel is not open
   */
  send(message) {
    if (this.closed || this.channel.readyState !== "open") return false;
    try {
      this.channel.send(JSON.stringify(message));
      return true;
    } catch (error) {
      console.warn("[va] send failed", error);
      return false;
    }
  }

  /** True while the data channel is open. */
  get open() {
    return !this.closed && this.channel.readyState === "open";
  }

  /**
   * Total video frames decoded from the server so far (for the frozen-picture watchdog).
   * @returns {Promise<number>} 0 when unknown
   */
  async framesDecoded() {
    if (this.closed) return 0;
    const report = await this.pc.getStats();
    let frames = 0;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && (s.kind === "video" || s.mediaType === "video")) {
        frames += s.framesDecoded || 0;
      }
    });
    return frames;
  }

  /** @private @param {string} reason */
  down(reason) {
    if (this.closed || this.downReported) return;
    this.downReported = true;
    this.options.onDown?.(reason);
  }

  /** Close everything this attempt opened (not the camera: it is kept across reconnects). */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.abort.abort();
    for (const handler of ["onopen", "onmessage", "onclose", "onerror"]) this.channel[handler] = null;
    this.pc.ontrack = null;
    this.pc.onconnectionstatechange = null;
    this.pc.oniceconnectionstatechange = null;
    try {
      this.channel.close();
    } catch {
      /* already closed */
    }
    // pc.close() leaves local tracks running, so the shared camera survives reconnects.
    try {
      this.pc.close();
    } catch {
      /* already closed */
    }
  }
}
