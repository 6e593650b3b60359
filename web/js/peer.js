/**
 * One connection attempt to the server: a single RTCPeerConnection carrying the camera track on
 * a sendrecv transceiver (the annotated video comes back on the same transceiver) and the
 * ordered "events" data channel, created before the offer. Without a camera stream the link
 * only receives (a recvonly video transceiver): the class screen watches a room that way.
 *
 * A PeerLink reports "down" at most once (peer disconnected/failed/closed, channel closed or
 * errored) and never after its own close().
 */

import { preferCodecs } from "./codecs.js";
import { postOffer, waitForIceGathering } from "./signalling.js";

/** Where the server says which STUN/TURN servers to use (fresh TURN credentials each time). */
export const ICE_URL = "/api/ice";

/**
 * The server's ICE configuration ({iceServers, iceTransportPolicy}, and videoCodec: its
 * `--video-codec`, which web/js/codecs.js puts first in our offer), asked before every
 * connection attempt because TURN credentials expire. Any failure gives `{iceServers: []}` with
 * a console note: host candidates still work on a LAN, which is better than no attempt at all.
 * @param {{fetchImpl?: typeof fetch, timeoutMs?: number, url?: string}} [options]
 * @returns {Promise<{iceServers: RTCIceServer[], iceTransportPolicy?: RTCIceTransportPolicy, videoCodec?: string}>}
 */
export async function fetchIceConfig(options = {}) {
  const { fetchImpl = globalThis.fetch, timeoutMs = 3000, url = ICE_URL } = options;
  try {
    const response = await fetchImpl(url, { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const body = await response.json();
    if (!Array.isArray(body.iceServers)) throw new Error("no iceServers in the answer");
    const policy = body.iceTransportPolicy === "relay" ? "relay" : "all";
    const videoCodec = typeof body.videoCodec === "string" ? body.videoCodec : "auto";
    return { iceServers: body.iceServers, iceTransportPolicy: policy, videoCodec };
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
   *   stream?: MediaStream | null,
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

    if (options.stream) {
      const track = options.stream.getVideoTracks()[0];
      if (!track) throw new Error("the camera stream has no video track");
      this.transceiver = this.pc.addTransceiver(track, { direction: "sendrecv", streams: [options.stream] });
    } else {
      this.transceiver = this.pc.addTransceiver("video", { direction: "recvonly" }); // watch only
    }
    preferCodecs(this.transceiver); // H.264 first where the browser has it (codecs.js)

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
    /** STUN/TURN errors while gathering (see checkGathered()), at most ICE_ERRORS_KEPT. */
    /** @type {{code: number, text: string, url: string}[]} */
    this.iceErrors = [];
    this.pc.onicecandidateerror = (event) => {
      if (this.iceErrors.length >= ICE_ERRORS_KEPT) return;
      const { errorCode, errorText, url } = event;
      this.iceErrors.push({ code: Number(errorCode) || 0, text: String(errorText || ""), url: String(url || "") });
    };
  }

  /**
   * Offer, gather ICE, POST to the server, apply the answer.
   * @param {{room?: string, role?: string, screen?: string, name?: string, resume?: string,
   *          iceTimeoutMs?: number, url?: string}} [params] `screen`: a class screen's key
   * @returns {Promise<string>} the server's session id; rejects with signalling errors or LinkClosedError
   */
  async negotiate(params = {}) {
    const pc = this.pc;
    if (!this.options.rtcConfig && typeof pc.setConfiguration === "function") {
      // the pc exists from the constructor (the controller shows it at once); servers and policy
      // may still change before the offer starts gathering
      const { videoCodec, ...ice } = await fetchIceConfig();
      this.check();
      preferCodecs(this.transceiver, videoCodec); // the server's --video-codec, before the offer
      pc.setConfiguration({ ...pc.getConfiguration(), ...ice });
    }
    const offer = await pc.createOffer();
    this.check();
    await pc.setLocalDescription(offer);
    this.check();
    await waitForIceGathering(pc, params.iceTimeoutMs ?? 3000);
    this.check();
    await this.checkGathered();
    const local = pc.localDescription;
    if (!local) throw new Error("no local description after gathering");
    const answer = await postOffer(
      { sdp: local.sdp, type: local.type },
      {
        room: params.room,
        role: params.role,
        screen: params.screen,
        name: params.name,
        resume: params.resume,
        url: params.url,
        signal: this.abort.signal,
      },
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
    this.pc.onicecandidateerror = null;
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

  /**
   * @private Gathering ended without a single candidate: the offer could never connect (the
   * server answers it, then nothing happens until a vague "lost the server" much later). With
   * STUN/TURN errors recorded, or a relay-only policy whose TURN server stayed silent for
   * RELAY_GRACE_MS more, fail now with a reason the page can explain (RelayUnreachableError).
   * A candidate turning up during the grace time is simply offered.
   */
  async checkGathered() {
    const hasCandidate = () => /^a=candidate:/m.test(this.pc.localDescription?.sdp || "");
    if (hasCandidate()) return;
    const config = typeof this.pc.getConfiguration === "function" ? this.pc.getConfiguration() : {};
    const relayOnly = config.iceTransportPolicy === "relay";
    if (this.iceErrors.length === 0 && !relayOnly) return; // no candidate, no reason known: as before
    const end = Date.now() + RELAY_GRACE_MS;
    while (this.iceErrors.length === 0 && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      this.check();
      if (hasCandidate()) return;
    }
    if (hasCandidate()) return;
    throw new RelayUnreachableError(this.iceErrors);
  }

  /**
   * Which way this page's media goes, from its own side (issue 19: relayed or direct, over
   * which protocol): the selected (else a nominated, succeeded) candidate pair of getStats.
   * `path` is "relay" if either candidate is relayed, else "srflx" if either is server- or
   * peer-reflexive, else "host" (the server's rule, stream/webrtc/connection_path.py); `protocol` is
   * this page's leg: for a relayed local candidate how it reaches the TURN server
   * (`relayProtocol`: udp, tcp or tls), else the candidate's own protocol.
   * @returns {Promise<{path: string, protocol: string, local: string, remote: string} | null>}
   *   null before a pair is selected or after close()
   */
  async connectionPath() {
    if (this.closed) return null;
    const report = await this.pc.getStats();
    /** @type {any} */
    let pair = null;
    report.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId) || pair;
    });
    if (!pair) {
      report.forEach((s) => {
        if (!pair && s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s;
      });
    }
    if (!pair) return null;
    const local = report.get(pair.localCandidateId);
    const remote = report.get(pair.remoteCandidateId);
    if (!local || !remote) return null;
    const types = [local.candidateType, remote.candidateType];
    const path = types.includes("relay")
      ? "relay"
      : types.includes("srflx") || types.includes("prflx")
        ? "srflx"
        : "host";
    const protocol = (local.candidateType === "relay" && local.relayProtocol) || local.protocol || "";
    return { path, protocol: String(protocol).toLowerCase(), local: local.candidateType, remote: remote.candidateType };
  }
}

/** How many icecandidateerror events one attempt keeps (a flapping server repeats them). */
const ICE_ERRORS_KEPT = 20;
/**
 * Relay only, gathering over and neither a candidate nor an error yet: how much longer a silent
 * TURN server gets (an unanswered UDP Allocate is retried for ~40 s before the browser reports
 * 701, far longer than a child waits; a TURN server that answers at all does so in well under 1 s).
 */
const RELAY_GRACE_MS = 5000;

/**
 * No ICE candidate at all, with STUN/TURN errors recorded: 401/403 (the TURN server refused
 * our credentials: a wrong shared secret on the media server, or expired ones) or 701 (the
 * server could not be reached at all); or relay only and the TURN server never answered (no
 * errors: "unreachable"). The controller shows this as the "network" error.
 */
export class RelayUnreachableError extends Error {
  /** @param {{code: number, text: string, url: string}[]} errors */
  constructor(errors) {
    const refused = errors.some((e) => e.code === 401 || e.code === 403);
    const first = errors[0];
    const why = first ? ` (${first.code} ${first.text})` : " (no answer)";
    super(`no ICE candidate: ${refused ? "TURN refused our login" : "TURN unreachable"}${why}`);
    this.name = "RelayUnreachableError";
    /** "refused" (wrong credentials) or "unreachable" */
    this.kind = refused ? "refused" : "unreachable";
    this.errors = errors;
  }
}
