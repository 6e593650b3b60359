/**
 * Which video codec the phone offers first (issue 19). iPhones encode and decode H.264
 * (constrained baseline, profile-level-id 42e01f, packetization-mode=1) in hardware and VP8 in
 * software, so the phone offers H.264 first where the browser has it, VP8 next; the server
 * (`serve --video-codec`, told to us in `GET /api/ice` as `videoCodec`) answers in our order in
 * "auto" and keeps only its codec for "h264"/"vp8". The camera and the returned video share one
 * transceiver, so the first codec of the answer serves both ways.
 *
 * Pure functions, no DOM: the browser's codec list is only reordered, never shortened, so RTX,
 * RED and FEC entries stay valid for every codec kept.
 */

/** What the server may ask for; anything else is treated as "auto". */
export const VIDEO_CODECS = ["auto", "h264", "vp8"];

/** H.264 constrained baseline level 3.1: what iOS encodes in hardware. */
export const H264_PROFILE = "42e01f";

/**
 * `a=fmtp` parameters of one codec as a map (`sdpFmtpLine` "a=1;b=2").
 * @param {string | undefined} line
 * @returns {Map<string, string>}
 */
export function fmtp(line) {
  const params = new Map();
  for (const part of (line || "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0) params.set(part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim().toLowerCase());
  }
  return params;
}

/**
 * Rank of one codec for `choice` (lower first); codecs of equal rank keep the browser's order.
 * @param {{mimeType: string, sdpFmtpLine?: string}} codec
 * @param {string} choice
 */
function rank(codec, choice) {
  const mime = (codec.mimeType || "").toLowerCase();
  const vp8 = choice === "vp8" ? 0 : 4;
  if (mime === "video/vp8") return vp8;
  if (mime === "video/h264") {
    const params = fmtp(codec.sdpFmtpLine);
    const mode1 = params.get("packetization-mode") === "1";
    const profile = params.get("profile-level-id") || "";
    // the server (aiortc) takes packetization-mode 1 only; 42e01f first, then other baseline
    const h264 = mode1 && profile === H264_PROFILE ? 1 : mode1 && profile.startsWith("42") ? 2 : 3;
    return choice === "vp8" ? 4 + h264 : h264;
  }
  return 9; // AV1, VP9, rtx, red, ulpfec…: after them, in the browser's order
}

/**
 * The browser's codec list reordered for `choice`: "auto"/"h264" put H.264 (42e01f,
 * packetization-mode 1 first) then VP8 first, "vp8" VP8 then H.264; the rest follows in the
 * browser's order. Nothing is dropped.
 * @template {{mimeType: string, sdpFmtpLine?: string}} C
 * @param {C[]} codecs
 * @param {string} [choice]
 * @returns {C[]}
 */
export function orderCodecs(codecs, choice = "auto") {
  const wanted = VIDEO_CODECS.includes(choice) ? choice : "auto";
  return codecs
    .map((codec, index) => ({ codec, index, rank: rank(codec, wanted) }))
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((entry) => entry.codec);
}

/**
 * Apply our order to a video transceiver before the offer. A browser without
 * `setCodecPreferences` (old Safari, which offers H.264 first anyway) or without receiver
 * capabilities is left to negotiate as it likes; an error is noted, never thrown.
 * @param {RTCRtpTransceiver} transceiver
 * @param {string} [choice] the server's `videoCodec`
 * @param {{getCapabilities?: (kind: string) => RTCRtpCapabilities | null}} [Receiver]
 * @returns {boolean} whether preferences were set
 */
export function preferCodecs(transceiver, choice = "auto", Receiver = globalThis.RTCRtpReceiver) {
  if (!transceiver || typeof transceiver.setCodecPreferences !== "function") return false;
  const capabilities = Receiver && typeof Receiver.getCapabilities === "function" ? Receiver.getCapabilities("video") : null;
  if (!capabilities || !Array.isArray(capabilities.codecs) || !capabilities.codecs.length) return false;
  try {
    transceiver.setCodecPreferences(orderCodecs(capabilities.codecs, choice));
    return true;
  } catch (error) {
    console.info("[va] keeping the browser's codec order:", error);
    return false;
  }
}
