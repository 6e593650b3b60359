/**
 * The server's themes and limits (GET /api/choices, stream/edge/page_choices.py), so no page
 * types a theme name or a limit of its own:
 *   themes  [{name, title}] the engine's themes (the packaged ones while it loads)
 *   limits  max_words, max_word_chars, max_words_chars (the words box), max_name_chars (a
 *           phone's name), code_length and code_alphabet (a class code)
 * Until the answer comes a page offers no theme and leaves lengths to the server, which
 * refuses what is too long with a reason the page shows.
 */

import { backoffDelayMs } from "./backoff.js";

/** Where the pages ask. */
export const CHOICES_URL = "/api/choices";

/**
 * @typedef {object} Choices
 * @property {{name: string, title: string}[] | unknown[]} themes
 * @property {Record<string, any>} limits
 * @property {{code: string, name: string}[] | null} languages the languages a phone may speak
 *           (`languages`, when the server lists them: [{code, name}], each name in itself)
 */

/**
 * Ask once.
 * @param {{fetchImpl?: typeof fetch, timeoutMs?: number, url?: string}} [options]
 * @returns {Promise<Choices | null>} null when there is no usable answer
 */
export async function fetchChoices(options = {}) {
  const { fetchImpl = globalThis.fetch, timeoutMs = 5000, url = CHOICES_URL } = options;
  try {
    const response = await fetchImpl(url, { cache: "no-store", signal: AbortSignal.timeout(timeoutMs) });
    if (!response.ok) return null;
    const body = await response.json();
    if (!body || !Array.isArray(body.themes)) return null;
    const limits = body.limits && typeof body.limits === "object" ? body.limits : {};
    const languages = Array.isArray(body.languages) ? body.languages : null;
    return { themes: body.themes, limits, languages };
  } catch {
    return null;
  }
}

/**
 * Ask until there is an answer (a few tries, backing off), then call `use` with it once.
 * @param {(choices: Choices) => void} use
 * @param {{tries?: number, fetchImpl?: typeof fetch}} [options]
 */
export async function loadChoices(use, options = {}) {
  const { tries = 6, fetchImpl } = options;
  for (let attempt = 0; attempt < tries; attempt += 1) {
    const choices = await fetchChoices({ fetchImpl });
    if (choices) {
      use(choices);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(attempt)));
  }
  console.info("[va] no themes or limits from the server; the page goes on without them");
}

/**
 * A whole positive number from the limits, else null (unknown: no limit on this side).
 * @param {Record<string, any> | null | undefined} limits
 * @param {string} name
 * @returns {number | null}
 */
export function limit(limits, name) {
  const value = limits ? limits[name] : undefined;
  return Number.isInteger(value) && value > 0 ? value : null;
}

/**
 * Give an input the server's length limit (no-op while unknown).
 * @param {HTMLInputElement} input
 * @param {Record<string, any> | null | undefined} limits
 * @param {string} name e.g. "max_name_chars"
 */
export function limitLength(input, limits, name) {
  const max = limit(limits, name);
  if (max !== null) input.maxLength = max;
}

/**
 * Whether `code` (upper case, no spaces) looks like a class code by the server's rules; with
 * the rules unknown any 1-16 letters and digits pass (the server then says whether it exists).
 * @param {string} code
 * @param {Record<string, any> | null | undefined} limits
 */
export function looksLikeCode(code, limits) {
  const length = limit(limits, "code_length");
  const alphabet = limits && typeof limits.code_alphabet === "string" ? limits.code_alphabet : "";
  if (length === null || !alphabet) return /^[A-Z0-9]{1,16}$/.test(code);
  return code.length === length && [...code].every((letter) => alphabet.includes(letter));
}
