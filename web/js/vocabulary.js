/**
 * What to look for: the theme picker (<select id="theme">) and the "find..." box
 * (<input id="find"> in a form). The choice is remembered for the page's lifetime and re-sent
 * on every new connection, as a `vocabulary` message with a theme or with words.
 */

/**
 * An icon per theme the pages know a picture for (a theme the server adds gets
 * THEME_ICON_OTHER); which themes there are is the server's: `hello.themes`, GET /api/choices.
 */
export const THEME_ICONS = Object.freeze({ animals: "🐾", fruit: "🍎", kitchen: "🍳", classroom: "🏫", toys: "🧸" });
export const THEME_ICON_OTHER = "🎨";
/** The no-theme choice ("Everything": all the words in force). */
export const EVERYTHING_ICON = "🌈";

/**
 * A theme's label for a menu: its icon and title.
 * @param {{name: string, title: string}} theme
 */
export function themeLabel(theme) {
  return `${THEME_ICONS[theme.name] || THEME_ICON_OTHER} ${theme.title}`;
}

const EVERYTHING = "";
const CUSTOM = "__words__";

/**
 * The server's themes (`hello.themes`, GET /api/choices): names, or objects with a name and an
 * optional title. Anything else is no theme at all.
 * @param {unknown} list
 * @returns {{name: string, title: string}[]}
 */
export function normaliseThemes(list) {
  if (!Array.isArray(list)) return [];
  const out = [];
  const seen = new Set();
  for (const item of list) {
    const name = typeof item === "string" ? item : item && typeof item.name === "string" ? item.name : "";
    const clean = name.trim();
    if (!clean || seen.has(clean) || clean === CUSTOM) continue;
    seen.add(clean);
    const title = item && typeof item.title === "string" && item.title.trim() ? item.title.trim() : titleCase(clean);
    out.push({ name: clean, title });
  }
  return out;
}

/**
 * @param {string} word
 * @returns {string}
 */
function titleCase(word) {
  return word.charAt(0).toUpperCase() + word.slice(1);
}

/**
 * Words typed in the find box, trimmed to what the server accepts (its `max_words` and
 * `max_words_chars`; either unknown: not cut here, the server says what is wrong).
 * @param {string} text
 * @param {{maxWords?: number | null, maxChars?: number | null}} [limits]
 * @returns {string} "" when nothing usable
 */
export function cleanWords(text, limits = {}) {
  const { maxWords = null, maxChars = null } = limits;
  const words = String(text ?? "")
    .split(/[,;\n]+/)
    .map((w) => w.replace(/\s+/g, " ").trim())
    .filter(Boolean);
  const joined = (maxWords ? words.slice(0, maxWords) : words).join(", ");
  return maxChars ? joined.slice(0, maxChars) : joined;
}

/**
 * The `vocabulary` message for a selection.
 * @param {{theme?: string, words?: string} | null} selection
 * @returns {{type: "vocabulary", theme: string} | {type: "vocabulary", words: string} | null}
 */
export function vocabularyMessage(selection) {
  if (!selection) return null;
  if (selection.theme) return { type: "vocabulary", theme: selection.theme };
  if (selection.words) return { type: "vocabulary", words: selection.words };
  return null;
}

export class VocabularyPicker {
  /**
   * @param {{select: HTMLSelectElement, form: HTMLFormElement, input: HTMLInputElement,
   *          onChoose?: (selection: {theme?: string, words?: string} | null, description: string) => void,
   *          onEmpty?: () => void, title?: (theme: {name: string, title: string}) => string,
   *          everything?: () => string}} options title/everything: the words in the child's
   *          language (the themes' titles, "Everything")
   */
  constructor(options) {
    this.select = options.select;
    this.input = options.input;
    this.options = options;
    /** @type {{theme?: string, words?: string} | null} */
    this.selection = null;
    this.defaultWords = "";
    /** @type {{name: string, title: string}[]} none until the server lists its own */
    this.themes = [];
    /** @type {{maxWords: number | null, maxChars: number | null}} the server's, once known */
    this.limits = { maxWords: null, maxChars: null };
    this.renderOptions();

    this.select.addEventListener("change", () => this.chooseFromSelect());
    options.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.chooseWords(this.input.value);
    });
  }

  /**
   * Use the server's limits for typed words (`max_words`, `max_words_chars`, from GET
   * /api/choices or `hello.limits`); a limit missing from `limits` stays as it was.
   * @param {Record<string, any> | null | undefined} limits
   */
  setLimits(limits) {
    const number = (value) => (Number.isInteger(value) && value > 0 ? value : null);
    const maxWords = number(limits && limits.max_words);
    const maxChars = number(limits && limits.max_words_chars);
    if (maxWords) this.limits.maxWords = maxWords;
    if (maxChars) {
      this.limits.maxChars = maxChars;
      this.input.maxLength = maxChars;
    }
  }

  /**
   * Use the server's theme list (GET /api/choices, then each `hello`).
   * @param {unknown} list
   */
  setThemes(list) {
    const themes = normaliseThemes(list);
    if (!themes.length) return;
    this.themes = themes;
    this.renderOptions();
  }

  /**
   * Remember the server's starting vocabulary, for "Everything" (first `hello` only).
   * @param {unknown} words list of words or one string
   */
  setDefaultWords(words) {
    if (this.defaultWords) return;
    const text = Array.isArray(words) ? words.filter((w) => typeof w === "string").join(", ") : String(words ?? "");
    this.defaultWords = cleanWords(text, this.limits);
  }

  /** Show the menu again (the child's language changed). */
  relabel() {
    this.renderOptions();
  }

  /** The message that re-applies the current choice on a new connection, or null. */
  message() {
    return vocabularyMessage(this.selection);
  }

  /** @private */
  chooseFromSelect() {
    const value = this.select.value;
    if (value === CUSTOM) return;
    if (value === EVERYTHING) {
      this.selection = this.defaultWords ? { words: this.defaultWords } : null;
      this.input.value = "";
      this.hideCustom();
      this.options.onChoose?.(this.selection, "everything");
      return;
    }
    const theme = this.themes.find((t) => t.name === value);
    this.selection = { theme: value };
    this.input.value = "";
    this.hideCustom();
    this.options.onChoose?.(this.selection, theme ? theme.title : value);
  }

  /** @private */
  chooseWords(text) {
    const words = cleanWords(text, this.limits);
    if (!words) {
      this.options.onEmpty?.();
      return;
    }
    this.selection = { words };
    const custom = this.customOption();
    custom.textContent = `🔍 ${words.length > 24 ? words.slice(0, 23) + "..." : words}`;
    custom.hidden = false;
    this.select.value = CUSTOM;
    this.input.blur();
    this.options.onChoose?.(this.selection, words);
  }

  /** @private */
  renderOptions() {
    const current = this.select.value;
    const custom = this.customOption();
    this.select.replaceChildren();
    const all = document.createElement("option");
    all.value = EVERYTHING;
    all.textContent = `${EVERYTHING_ICON} ${this.options.everything ? this.options.everything() : "Everything"}`;
    this.select.append(all);
    for (const theme of this.themes) {
      const option = document.createElement("option");
      option.value = theme.name;
      const title = this.options.title ? this.options.title(theme) : theme.title;
      option.textContent = themeLabel({ ...theme, title });
      this.select.append(option);
    }
    this.select.append(custom);
    const values = [...this.select.options].map((o) => o.value);
    this.select.value = values.includes(current) ? current : EVERYTHING;
  }

  /** @private */
  customOption() {
    let option = [...this.select.options].find((o) => o.value === CUSTOM);
    if (!option) {
      option = document.createElement("option");
      option.value = CUSTOM;
      option.hidden = true;
      option.textContent = "🔍";
    }
    return option;
  }

  /** @private */
  hideCustom() {
    const option = this.customOption();
    option.hidden = true;
  }
}
