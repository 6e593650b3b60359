/**
 * Reconnect back-off: how long to wait before reconnect attempt number `attempt`.
 * Pure function: no DOM, importable from Node for tests.
 */

/**
 * Exponential back-off with jitter: base * 2^attempt, capped, +/- jitter.
 * @param {number} attempt 0 for the first retry
 * @param {{baseMs?: number, maxMs?: number, jitter?: number, random?: () => number}} [options]
 * @returns {number} milliseconds, at least 250
 */
export function backoffDelayMs(attempt, { baseMs = 1000, maxMs = 15000, jitter = 0.2, random = Math.random } = {}) {
  const n = Math.max(0, Math.min(30, Math.floor(attempt) || 0));
  const plain = Math.min(maxMs, baseMs * 2 ** n);
  const spread = plain * jitter * (random() * 2 - 1);
  return Math.max(250, Math.round(plain + spread));
}
