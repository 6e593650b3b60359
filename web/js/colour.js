/**
 * Colours: parse the server's "#rrggbb" object colours and pick a readable text colour for
 * a chip drawn in that colour (WCAG relative luminance and contrast ratio).
 * Pure functions: no DOM, importable from Node for tests.
 */

/** Text colours a chip may use: black and white (one of them always passes WCAG AA, 4.5:1). */
export const DARK_TEXT = "#000000";
export const LIGHT_TEXT = "#ffffff";
/** Used when an object arrives without a usable colour. */
export const FALLBACK_COLOUR = "#ffd400";

const HEX = /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i;

/**
 * Parse "#rgb" or "#rrggbb" (the "#" optional, any case).
 * @param {unknown} text
 * @returns {[number, number, number] | null} red, green, blue in 0..255, or null when not a hex colour
 */
export function parseHexColour(text) {
  if (typeof text !== "string") return null;
  const match = HEX.exec(text.trim());
  if (!match) return null;
  let hex = match[1];
  if (hex.length === 3) hex = hex[0] + hex[0] + hex[1] + hex[1] + hex[2] + hex[2];
  return [0, 2, 4].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

/**
 * WCAG 2 relative luminance of an sRGB colour.
 * @param {[number, number, number]} rgb channels in 0..255
 * @returns {number} 0 (black) .. 1 (white)
 */
export function relativeLuminance(rgb) {
  const [r, g, b] = rgb.map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

/**
 * WCAG contrast ratio between two luminances.
 * @param {number} a
 * @param {number} b
 * @returns {number} 1 .. 21
 */
export function contrastRatio(a, b) {
  const [hi, lo] = a >= b ? [a, b] : [b, a];
  return (hi + 0.05) / (lo + 0.05);
}

/**
 * A safe background colour: the given colour normalised to "#rrggbb", or the fallback.
 * @param {unknown} colour
 * @returns {string}
 */
export function safeColour(colour) {
  const rgb = parseHexColour(colour);
  if (!rgb) return FALLBACK_COLOUR;
  return "#" + rgb.map((c) => c.toString(16).padStart(2, "0")).join("");
}

/**
 * The text colour (DARK_TEXT or LIGHT_TEXT) that contrasts more with a background colour.
 * @param {unknown} background "#rrggbb"; anything else is treated as FALLBACK_COLOUR
 * @returns {string}
 */
export function readableTextColour(background) {
  const rgb = parseHexColour(background) || parseHexColour(FALLBACK_COLOUR);
  const lum = relativeLuminance(/** @type {[number, number, number]} */ (rgb));
  const dark = contrastRatio(lum, 0);
  const light = contrastRatio(lum, 1);
  return dark >= light ? DARK_TEXT : LIGHT_TEXT;
}
