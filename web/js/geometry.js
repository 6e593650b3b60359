/**
 * Geometry of a <video> element's picture: where the video content lies inside the element
 * for a given object-fit (letterboxing), and client (CSS pixel) points to normalised video
 * coordinates (0..1, origin top left) as the `tap` message needs.
 * Pure functions: no DOM, importable from Node for tests.
 */

/**
 * Parse a CSS object-position such as "50% 50%" into fractions; anything else is centred.
 * @param {string | undefined} position computed `object-position`
 * @returns {[number, number]}
 */
export function parseObjectPosition(position) {
  const parts = String(position || "").trim().split(/\s+/);
  const frac = (part) => {
    const m = /^(-?\d+(?:\.\d+)?)%$/.exec(part || "");
    return m ? Number(m[1]) / 100 : 0.5;
  };
  return [frac(parts[0]), frac(parts[1] ?? parts[0])];
}

/**
 * The rectangle the video picture occupies inside its element box, in the box's own pixels.
 * @param {number} boxWidth element width
 * @param {number} boxHeight element height
 * @param {number} videoWidth intrinsic video width (videoWidth)
 * @param {number} videoHeight intrinsic video height (videoHeight)
 * @param {string} [fit] CSS object-fit: contain (default), cover, fill, none, scale-down
 * @param {[number, number]} [position] object-position as fractions (default centred)
 * @returns {{x: number, y: number, width: number, height: number} | null} null without a video size
 */
export function contentRect(boxWidth, boxHeight, videoWidth, videoHeight, fit = "contain", position = [0.5, 0.5]) {
  if (!(boxWidth > 0 && boxHeight > 0 && videoWidth > 0 && videoHeight > 0)) return null;
  let sx;
  let sy;
  const contain = Math.min(boxWidth / videoWidth, boxHeight / videoHeight);
  switch (fit) {
    case "fill":
      sx = boxWidth / videoWidth;
      sy = boxHeight / videoHeight;
      break;
    case "cover":
      sx = sy = Math.max(boxWidth / videoWidth, boxHeight / videoHeight);
      break;
    case "none":
      sx = sy = 1;
      break;
    case "scale-down":
      sx = sy = Math.min(1, contain);
      break;
    default:
      sx = sy = contain;
  }
  const width = videoWidth * sx;
  const height = videoHeight * sy;
  return {
    x: (boxWidth - width) * position[0],
    y: (boxHeight - height) * position[1],
    width,
    height,
  };
}

/**
 * Convert a client point (e.g. a click) on a video element to normalised video coordinates.
 * @param {number} clientX
 * @param {number} clientY
 * @param {{left: number, top: number, width: number, height: number}} box the element's bounding rect
 * @param {number} videoWidth
 * @param {number} videoHeight
 * @param {string} [fit] CSS object-fit of the element
 * @param {[number, number]} [position] object-position fractions
 * @returns {{x: number, y: number} | null} null when the point is on a letterbox bar or the size is unknown
 */
export function toVideoPoint(clientX, clientY, box, videoWidth, videoHeight, fit = "contain", position = [0.5, 0.5]) {
  const rect = contentRect(box.width, box.height, videoWidth, videoHeight, fit, position);
  if (!rect) return null;
  const x = (clientX - box.left - rect.x) / rect.width;
  const y = (clientY - box.top - rect.y) / rect.height;
  const eps = 1e-9;
  if (x < -eps || x > 1 + eps || y < -eps || y > 1 + eps) return null;
  return { x: clamp01(x), y: clamp01(y) };
}

/**
 * Clamp to 0..1 (NaN becomes 0).
 * @param {number} v
 * @returns {number}
 */
export function clamp01(v) {
  return v > 0 ? (v < 1 ? v : 1) : 0;
}
