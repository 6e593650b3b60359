/**
 * The tiny stats line (fps in/out/overlay, dropped frames, slowest stage), shown on demand.
 */

/**
 * Format one number for the stats line.
 * @param {unknown} value
 * @param {number} [digits]
 * @returns {string}
 */
function num(value, digits = 1) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : "-";
}

/**
 * One short line from a `stats` message.
 * @param {Record<string, any>} stats
 * @returns {string} e.g. "in 15.0 | out 15.0 | overlay 4.2 fps | dropped 3 | segment 120 ms"
 */
export function formatStats(stats) {
  const parts = [`in ${num(stats.fps_in)}`, `out ${num(stats.fps_out)}`, `overlay ${num(stats.overlay_fps)} fps`];
  if (typeof stats.dropped === "number") parts.push(`dropped ${stats.dropped}`);
  const stages = stats.stages_ms && typeof stats.stages_ms === "object" ? Object.entries(stats.stages_ms) : [];
  const slowest = stages
    .filter(([, ms]) => typeof ms === "number" && Number.isFinite(ms))
    .sort((a, b) => b[1] - a[1])[0];
  if (slowest) parts.push(`${slowest[0]} ${num(slowest[1], 0)} ms`);
  return parts.join(" | ");
}
