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
 * @param {{path: string, protocol: string} | null} [page] the route this page sees
 *   (PeerLink.connectionPath()); the server's own view is in stats.path/transport/codec
 * @returns {string} e.g. "in 15.0 | out 15.0 | overlay 4.2 fps | dropped 3 | segment 120 ms |
 *   relay tcp | VP8"
 */
export function formatStats(stats, page = null) {
  const parts = [`in ${num(stats.fps_in)}`, `out ${num(stats.fps_out)}`, `overlay ${num(stats.overlay_fps)} fps`];
  if (typeof stats.dropped === "number") parts.push(`dropped ${stats.dropped}`);
  const stages = stats.stages_ms && typeof stats.stages_ms === "object" ? Object.entries(stats.stages_ms) : [];
  const slowest = stages
    .filter(([, ms]) => typeof ms === "number" && Number.isFinite(ms))
    .sort((a, b) => b[1] - a[1])[0];
  if (slowest) parts.push(`${slowest[0]} ${num(slowest[1], 0)} ms`);
  const route = formatPath(page);
  if (route) parts.push(route);
  if (typeof stats.codec === "string" && stats.codec !== "pending") parts.push(stats.codec);
  return parts.join(" | ");
}

/**
 * The page's route for the stats line: "relay udp", "relay tls", "direct udp", "srflx udp";
 * "" while unknown.
 * @param {{path: string, protocol: string} | null | undefined} page
 * @returns {string}
 */
export function formatPath(page) {
  if (!page || !page.path) return "";
  const name = page.path === "host" ? "direct" : page.path;
  return page.protocol ? `${name} ${page.protocol}` : name;
}
