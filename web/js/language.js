/**
 * The child's language: a big "Language" button opens a sheet with one button per language,
 * each named in itself (English, Français, Español). Choosing sends `{"type": "language"}`,
 * is remembered on this phone and sent again after every (re)connection. The server's
 * `language` message brings the page's words (words.js); its catalogue is kept too, so the
 * page shows the child's words at once next time. A typed word the language does not know is
 * said as typed, and the page says so once.
 */

import { loadSetting, saveSetting } from "./storage.js";
import { normaliseLanguages } from "./words.js";

export class LanguageChooser {
  /**
   * @param {{button: HTMLButtonElement, sheet: HTMLElement, list: HTMLElement, close: HTMLButtonElement,
   *          words: import("./words.js").PageWords, send: (message: object) => boolean,
   *          tell: (text: string) => void}} options
   */
  constructor(options) {
    this.options = options;
    this.words = options.words;
    /** @type {{code: string, name: string}[]} */
    this.languages = normaliseLanguages(null);
    /** The chosen language's code ("" until the child chooses one). */
    this.code = loadSetting("language", "");
    /** @type {Set<string>} "fr|xyz": already told that "xyz" is said as typed in French */
    this.told = new Set();
    const cached = loadSetting("catalogue", {});
    if (this.code && cached && cached.language === this.code) this.words.use(cached);
    options.button.addEventListener("click", () => this.open());
    options.close.addEventListener("click", () => this.hide());
    options.sheet.addEventListener("click", (event) => {
      if (event.target === options.sheet) this.hide();
    });
    this.render();
  }

  /**
   * The languages the server offers (GET /api/choices `languages`; missing: English, French, Spanish).
   * @param {unknown} list
   */
  setLanguages(list) {
    this.languages = normaliseLanguages(list);
    this.render();
  }

  /** The channel opened: say the chosen language again (a new session starts in English). */
  resend() {
    if (this.code) this.options.send({ type: "language", language: this.code });
  }

  /**
   * The server's `language` message.
   * @param {any} message
   */
  received(message) {
    if (!this.words.use(message)) return;
    saveSetting("catalogue", { language: message.language, name: message.name, catalogue: message.catalogue });
    this.render();
  }

  /**
   * Words the child typed: tell once about each the language does not know (said as typed).
   * @param {string[]} typed
   * @returns {boolean} whether the child was told
   */
  check(typed) {
    for (const word of typed) {
      const key = `${this.words.code}|${word.toLowerCase()}`;
      if (!word || this.words.knows(word) || this.told.has(key)) continue;
      this.told.add(key);
      this.options.tell(`🔤 ${this.words.t("unknown_word", { word, language: this.words.name })}`);
      return true; // one notice at a time
    }
    return false;
  }

  /**
   * A hunt word and the name it is said with: the same in another language means no translation.
   * @param {string} word
   * @param {string} name
   */
  heard(word, name) {
    if (this.words.code === "en" || word.toLowerCase() !== name.toLowerCase()) return;
    if (!this.words.knows(word)) this.check([word]);
  }

  open() {
    this.render();
    this.options.sheet.hidden = false;
    const current = this.options.list.querySelector("[aria-current='true']") || this.options.list.querySelector("button");
    /** @type {HTMLElement | null} */ (current)?.focus({ preventScroll: true });
  }

  hide() {
    this.options.sheet.hidden = true;
  }

  /**
   * @param {string} code
   */
  choose(code) {
    this.hide();
    this.code = code;
    saveSetting("language", code);
    const cached = loadSetting("catalogue", {});
    if (cached && cached.language === code) this.words.use(cached);
    const name = this.languages.find((l) => l.code === code)?.name || code;
    if (!this.options.send({ type: "language", language: code })) this.options.tell(`🌐 ${name}`);
    this.render();
  }

  /** @private */
  render() {
    const current = this.code || this.words.code;
    const name = this.languages.find((l) => l.code === current)?.name || this.words.name;
    this.options.button.setAttribute("aria-label", `${this.words.t("language")}: ${name}`);
    this.options.button.title = `${this.words.t("language")}: ${name}`;
    this.options.list.replaceChildren(
      ...this.languages.map((language) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "language";
        button.lang = language.code;
        button.dataset.code = language.code;
        button.textContent = language.name;
        button.setAttribute("aria-current", String(language.code === current));
        button.addEventListener("click", () => this.choose(language.code));
        return button;
      }),
    );
  }
}
