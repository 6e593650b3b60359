/**
 * The small lighting indicator fed by `stats.lighting.state`: icon and word, hidden when the
 * light is normal, with a hint a grown-up can act on, in the child's language.
 */

import { english } from "./english.js";

/** Icon, word and hint per lighting state (the server's names); the words in English. */
export const LIGHTING = Object.freeze({
  dark: { icon: "🌙", word: "dark", hint: "It is dark. Turn on a light!" },
  dim: { icon: "🌥", word: "dim", hint: "A bit dark. More light helps." },
  normal: { icon: "💡", word: "normal", hint: "The light is good." },
  bright: { icon: "☀️", word: "bright", hint: "Very bright light." },
  backlit: { icon: "🌅", word: "backlit", hint: "Bright light behind things. Try turning around." },
});

/**
 * Show a lighting state in the indicator element (data-state is set; hidden when normal or unknown).
 * @param {HTMLElement} element the #lighting element
 * @param {unknown} state "dark" | "dim" | "normal" | "bright" | "backlit"
 * @param {(key: string) => string} [t] the page's words (`light_dark`, `light_dark_hint`, ...;
 *        English when not given)
 */
export function renderLighting(element, state, t = english) {
  const key = typeof state === "string" ? state : "";
  const info = Object.prototype.hasOwnProperty.call(LIGHTING, key) ? LIGHTING[key] : null;
  const word = info ? t(`light_${key}`) : "";
  const text = info ? `${info.icon} ${word}` : "";
  if (element.dataset.state === (info ? key : "") && element.textContent === text) return;
  const hint = info ? t(`light_${key}_hint`) : "";
  element.dataset.state = info ? key : "";
  element.hidden = !info || key === "normal";
  element.textContent = text;
  element.title = hint;
  element.setAttribute("aria-label", info ? `${t("light")}: ${word}. ${hint}` : t("light"));
}
