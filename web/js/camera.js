/**
 * The camera: open the rear camera with the constraints the server expects, and turn the
 * browser's errors into reasons the page can show ("blocked", "no-camera", "insecure", ...).
 */

/** getUserMedia constraints: rear camera, 640x480, about 15 fps, no audio. */
export const CAMERA_CONSTRAINTS = Object.freeze({
  video: {
    facingMode: { ideal: "environment" },
    width: { ideal: 640 },
    height: { ideal: 480 },
    frameRate: { ideal: 15, max: 30 },
  },
  audio: false,
});

/** A camera failure with a `reason` the UI maps to a state. */
export class CameraError extends Error {
  /**
   * @param {"blocked"|"no-camera"|"insecure"|"unsupported"|"camera-busy"|"camera-error"} reason
   * @param {string} message
   * @param {unknown} [cause]
   */
  constructor(reason, message, cause) {
    super(message);
    this.name = "CameraError";
    this.reason = reason;
    this.cause = cause;
  }
}

/**
 * Map a getUserMedia rejection to a CameraError.
 * @param {any} error the rejection (usually a DOMException)
 * @returns {CameraError}
 */
export function classifyCameraError(error) {
  if (error instanceof CameraError) return error;
  const name = (error && error.name) || "";
  const message = (error && error.message) || String(error);
  switch (name) {
    case "NotAllowedError":
    case "PermissionDeniedError":
    case "SecurityError":
      return new CameraError("blocked", `camera blocked: ${message}`, error);
    case "NotFoundError":
    case "DevicesNotFoundError":
    case "OverconstrainedError":
    case "ConstraintNotSatisfiedError":
      return new CameraError("no-camera", `no camera: ${message}`, error);
    case "NotReadableError":
    case "TrackStartError":
    case "AbortError":
      return new CameraError("camera-busy", `camera busy: ${message}`, error);
    default:
      return new CameraError("camera-error", `camera failed: ${name} ${message}`.trim(), error);
  }
}

/**
 * Open the camera. Retries once with plain `{video: true}` when the constraints cannot be met.
 * @param {{mediaDevices?: MediaDevices, secure?: boolean}} [env] defaults to the browser's
 * @returns {Promise<MediaStream>} rejects with a CameraError only
 */
export async function openCamera(env = {}) {
  const mediaDevices = "mediaDevices" in env ? env.mediaDevices : globalThis.navigator?.mediaDevices;
  const secure = "secure" in env ? env.secure : globalThis.isSecureContext !== false;
  if (!mediaDevices || typeof mediaDevices.getUserMedia !== "function") {
    throw secure
      ? new CameraError("unsupported", "this browser has no camera API (navigator.mediaDevices)")
      : new CameraError("insecure", "the camera needs a secure (https://) page");
  }
  try {
    return await mediaDevices.getUserMedia(CAMERA_CONSTRAINTS);
  } catch (error) {
    if (error && (error.name === "OverconstrainedError" || error.name === "ConstraintNotSatisfiedError")) {
      try {
        return await mediaDevices.getUserMedia({ video: true, audio: false });
      } catch (second) {
        throw classifyCameraError(second);
      }
    }
    throw classifyCameraError(error);
  }
}

/**
 * Stop every track of a stream (releases the camera light).
 * @param {MediaStream | null | undefined} stream
 */
export function stopStream(stream) {
  if (!stream) return;
  for (const track of stream.getTracks()) {
    try {
      track.stop();
    } catch {
      /* already stopped */
    }
  }
}
