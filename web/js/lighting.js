/**
 * The small lighting indicator fed by `stats.lighting.state`: icon and word, hidden when the
 * light is normal, with a hint a grown-up can act on.
 */

/** Icon, word and hint per lighting state (the server's names). */
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
 */
export function renderLighting(element, state) {
  const key = typeof state === "string" ? state : "";
  const info = Object.prototype.hasOwnProperty.call(LIGHTING, key) ? LIGHTING[key] : null;
  if (element.dataset.state === (info ? key : "")) return;
  element.dataset.state = info ? key : "";
  element.hidden = !info || key === "normal";
  element.textContent = info ? `${info.icon} ${info.word}` : "";
  element.title = info ? info.hint : "";
  element.setAttribute("aria-label", info ? `Light: ${info.word}. ${info.hint}` : "Light: unknown");
}
