/**
 * What to look for: the theme picker (<select id="theme">) and the "find..." box
 * (<input id="find"> in a form). The choice is remembered for the page's lifetime and re-sent
 * on every new connection, as a `vocabulary` message with a theme or with words.
 */

/** Themes offered before the server's `hello` lists its own. */
export const DEFAULT_THEMES = Object.freeze(["animals", "fruit", "kitchen", "classroom", "toys"]);
/** An icon per known theme. */
export const THEME_ICONS = Object.freeze({ animals: "🐾", fruit: "🍎", kitchen: "🍳", classroom: "🏫", toys: "🧸" });
/** Limits of the server's vocabulary parser and protocol. */
export const MAX_WORDS = 32;
export const MAX_WORDS_CHARS = 2000;

const EVERYTHING = "";
const CUSTOM = "__words__";

/**
 * Themes from `hello.themes`: names, or objects with a name and an optional title.
 * @param {unknown} list
 * @returns {{name: string, title: string}[]}
 */
export function normaliseThemes(list) {
  if (!Array.isArray(list)) return DEFAULT_THEMES.map((name) => ({ name, title: titleCase(name) }));
  const out = [];
  const seen = new Set();
  for (const item of list) {
    const name = typeof item === "string" ? item : item && typeof item.name === "string" ? item.name : "";
    const clean = name.trim().slice(0, 40);
    if (!clean || seen.has(clean) || clean === CUSTOM) continue;
    seen.add(clean);
    const title = item && typeof item.title === "string" && item.title.trim() ? item.title.trim().slice(0, 40) : titleCase(clean);
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
 * Words typed in the find box, trimmed to what the server accepts.
 * @param {string} text
 * @returns {string} "" when nothing usable
 */
export function cleanWords(text) {
  const words = String(text ?? "")
    .split(/[,;\n]+/)
    .map((w) => w.replace(/\s+/g, " ").trim())
    .filter(Boolean)
    .slice(0, MAX_WORDS);
  return words.join(", ").slice(0, MAX_WORDS_CHARS);
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
   *          onEmpty?: () => void}} options
   */
  constructor(options) {
    this.select = options.select;
    this.input = options.input;
    this.options = options;
    /** @type {{theme?: string, words?: string} | null} */
    this.selection = null;
    this.defaultWords = "";
    this.themes = normaliseThemes(null);
    this.input.maxLength = MAX_WORDS_CHARS;
    this.renderOptions();

    this.select.addEventListener("change", () => this.chooseFromSelect());
    options.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.chooseWords(this.input.value);
    });
  }

  /**
   * Use the server's theme list (from `hello`).
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
    this.defaultWords = cleanWords(text);
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
    const words = cleanWords(text);
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
    all.textContent = "✨ Everything";
    this.select.append(all);
    for (const theme of this.themes) {
      const option = document.createElement("option");
      option.value = theme.name;
      option.textContent = `${THEME_ICONS[theme.name] || "🎨"} ${theme.title}`;
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
