/**
 * Words to keep: a word the child taps (a chip, a sticker, a word found today) is said again
 * slowly and shown spelled in big letters over everything (#spell; a tap or a few seconds hide
 * it). The words found today are remembered on this phone (localStorage) until the day ends.
 */

import { loadSetting, saveSetting } from "./storage.js";

/** How slowly a word to keep is said. */
export const SLOW_RATE = 0.6;
/** How long the big word stays. */
export const SPELL_MS = 4000;

/**
 * A chip's or badge's text without the doubt mark ("cat?" -> "cat").
 * @param {unknown} text
 */
export function plainWord(text) {
  return String(text ?? "")
    .replace(/[?¿!¡.]+/g, "")
    .replace(/\s+/g, " ")
    .trim();
}

export class WordKeeper {
  /**
   * @param {{overlay: HTMLElement, word: HTMLElement, letters: HTMLElement,
   *          speak: (text: string, options: {rate: number, again: boolean}) => void}} options
   */
  constructor(options) {
    this.options = options;
    this.timer = 0;
    options.overlay.addEventListener("click", () => this.hide());
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.hide();
    });
  }

  /**
   * Say a word slowly and show it big.
   * @param {string} text
   */
  keep(text) {
    const word = plainWord(text);
    if (!word) return;
    this.options.speak(word, { rate: SLOW_RATE, again: true });
    const { overlay, letters } = this.options;
    this.options.word.textContent = word;
    letters.replaceChildren(
      ...[...word].map((letter) => {
        const span = document.createElement("span");
        span.textContent = letter === " " ? "\u00a0" : letter;
        return span;
      }),
    );
    overlay.hidden = false;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), SPELL_MS);
  }

  hide() {
    clearTimeout(this.timer);
    this.options.overlay.hidden = true;
  }
}

/** @returns {string} today's date, local time ("2025-03-14") */
function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

/** The words found today on this phone, oldest first, each once. */
export class TodayWords {
  constructor() {
    const stored = loadSetting("today", { day: "", words: [] });
    /** @type {{word: string, name: string}[]} */
    this.words = stored && stored.day === today() && Array.isArray(stored.words) ? clean(stored.words) : [];
  }

  /**
   * Add found words (`hunt.found`).
   * @param {unknown} found
   */
  add(found) {
    let changed = false;
    for (const item of clean(found)) {
      if (this.words.some((w) => w.word === item.word)) continue;
      this.words.push(item);
      changed = true;
    }
    if (changed) saveSetting("today", { day: today(), words: this.words.slice(-60) });
  }
}

/**
 * @param {unknown} list
 * @returns {{word: string, name: string}[]}
 */
function clean(list) {
  if (!Array.isArray(list)) return [];
  return list
    .filter((w) => w && typeof w.word === "string" && w.word.trim())
    .map((w) => ({ word: w.word.trim(), name: typeof w.name === "string" && w.name.trim() ? w.name.trim() : w.word.trim() }));
}
