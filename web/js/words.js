/**
 * The phone page's own words in the child's language. The page ships with English; the server's
 * `language` message brings the catalogue of another (inference/labels/catalogue.py: `page`
 * words, `templates`, `themes` with translated titles and words). Elements marked
 * data-word="key" show that word; data-word-label="key" puts it in aria-label and title;
 * data-word-placeholder="key" in the placeholder; data-word-aria="key" in aria-label only.
 */

import { ENGLISH, fill } from "./english.js";

export { ENGLISH, fill };

/** The languages offered when the server does not list its own (GET /api/choices `languages`). */
export const DEFAULT_LANGUAGES = Object.freeze([
  { code: "en", name: "English" },
  { code: "fr", name: "Français" },
  { code: "es", name: "Español" },
]);

/**
 * A usable language list: [{code, name}] from the server's, else DEFAULT_LANGUAGES.
 * @param {unknown} list
 * @returns {{code: string, name: string}[]}
 */
export function normaliseLanguages(list) {
  if (!Array.isArray(list)) return [...DEFAULT_LANGUAGES];
  const out = [];
  for (const item of list) {
    const code = item && typeof item.code === "string" ? item.code.trim() : "";
    const name = item && typeof item.name === "string" ? item.name.trim() : "";
    if (/^[a-z]{2,3}(-[a-z0-9]{2,8})?$/.test(code) && name && !out.some((l) => l.code === code)) {
      out.push({ code, name });
    }
  }
  return out.length ? out : [...DEFAULT_LANGUAGES];
}

/** The words in force and what the catalogue knows of the themes. */
export class PageWords {
  constructor() {
    this.code = "en";
    this.name = "English";
    /** @type {Record<string, string>} */
    this.words = { ...ENGLISH };
    /** @type {Map<string, string>} theme name -> title */
    this.titles = new Map();
    /** @type {Map<string, string>} detector word (lowercase) -> spoken name */
    this.names = new Map();
    /** @type {Map<string, string>} spoken name (lowercase) -> detector word */
    this.words_by_name = new Map();
    /** @type {Set<(words: PageWords) => void>} */
    this.listeners = new Set();
  }

  /**
   * A page word ("skip" -> "Passer"), English when the catalogue lacks it.
   * @param {string} key
   * @param {Record<string, string | number>} [values]
   */
  t(key, values) {
    return fill(this.words[key] ?? ENGLISH[key] ?? key, values);
  }

  /**
   * Use a `language` message's catalogue.
   * @param {{language?: string, name?: string, catalogue?: any}} message
   * @returns {boolean} whether it was usable
   */
  use(message) {
    const catalogue = message && message.catalogue;
    if (!catalogue || typeof catalogue !== "object") return false;
    this.code = String(message.language || catalogue.code || "en");
    this.name = String(message.name || catalogue.name || this.code);
    const page = catalogue.page && typeof catalogue.page === "object" ? catalogue.page : {};
    this.words = { ...ENGLISH };
    for (const [key, text] of Object.entries(page)) {
      if (typeof text === "string" && text.trim() && key[0] !== "_") this.words[key] = text;
    }
    this.titles.clear();
    this.names.clear();
    this.words_by_name.clear();
    for (const theme of Array.isArray(catalogue.themes) ? catalogue.themes : []) {
      if (!theme || typeof theme.name !== "string") continue;
      if (typeof theme.title === "string") this.titles.set(theme.name, theme.title);
      for (const entry of Array.isArray(theme.words) ? theme.words : []) {
        if (!entry || typeof entry.word !== "string" || typeof entry.name !== "string") continue;
        this.names.set(entry.word.toLowerCase(), entry.name);
        this.words_by_name.set(entry.name.toLowerCase(), entry.word);
      }
    }
    for (const listener of this.listeners) listener(this);
    return true;
  }

  /**
   * The name a child hears for a detector word, or null when the catalogue has none.
   * @param {string} word
   */
  nameOf(word) {
    return this.names.get(String(word).toLowerCase()) ?? null;
  }

  /**
   * Whether a typed word is one this language knows (a theme word or its translated name).
   * English knows every word (it is said as typed anyway).
   * @param {string} word
   */
  knows(word) {
    if (this.code === "en" || this.code.startsWith("en-")) return true;
    const key = String(word).trim().toLowerCase();
    return this.names.has(key) || this.words_by_name.has(key);
  }

  /**
   * Typed words in the child's language turned into the detector's English where the catalogue
   * knows them ("tasse" -> "cup"); others stay as typed.
   * @param {string} words "a, b"
   */
  toDetector(words) {
    return String(words)
      .split(",")
      .map((w) => w.trim())
      .filter(Boolean)
      .map((w) => this.words_by_name.get(w.toLowerCase()) ?? w)
      .join(", ");
  }

  /**
   * Show the words in every marked element under `root`.
   * @param {ParentNode} root
   */
  apply(root) {
    for (const el of root.querySelectorAll("[data-word]")) {
      const text = this.t(/** @type {HTMLElement} */ (el).dataset.word || "");
      if (el.textContent !== text) el.textContent = text;
    }
    for (const el of root.querySelectorAll("[data-word-label]")) {
      const text = this.t(/** @type {HTMLElement} */ (el).dataset.wordLabel || "");
      el.setAttribute("aria-label", text);
      el.setAttribute("title", text);
    }
    for (const el of root.querySelectorAll("[data-word-aria]")) {
      el.setAttribute("aria-label", this.t(/** @type {HTMLElement} */ (el).dataset.wordAria || ""));
    }
    for (const el of root.querySelectorAll("[data-word-placeholder]")) {
      /** @type {HTMLInputElement} */ (el).placeholder = this.t(/** @type {HTMLElement} */ (el).dataset.wordPlaceholder || "");
    }
  }

  /** @param {(words: PageWords) => void} listener called after each `use` */
  onChange(listener) {
    this.listeners.add(listener);
  }
}

/** Errors a child can act on, in the child's words; any other as the server put it. */
const ERRORS = {
  room_hunt: (t) => `🏫 ${t("ask_teacher")}`,
  no_hunt: (t) => `🎯 ${t("find_it")}`,
  bad_hunt: (t) => `🎯 ${t("find_placeholder")}`,
  unknown_language: (t) => `🌐 ${t("language")}: English`,
  room_words: (t) => `🏫 ${t("teacher_words")}`,
  bad_vocabulary: (t) => `✏️ ${t("find_placeholder")}`,
  vocabulary_too_long: (t) => `✏️ ${t("find_placeholder")}`,
  unknown_theme: (t) => `✏️ ${t("find_placeholder")}`,
  rate_limited: (t) => `⏳ ${t("slow_down")}`,
  no_frame: (t) => `📷 ${t("no_picture")}`,
  snapshots_off: (t) => `📷 ${t("photos_off")}`,
  not_in_room: (t) => `📷 ${t("photos_off")}`,
  snapshot_limit: (t) => `📷 ${t("no_more_photos")}`,
  room_limit: (t) => `📷 ${t("no_more_photos")}`,
  library_full: (t) => `📷 ${t("no_more_photos")}`,
};
/** Codes that mean the page or the server went wrong: nothing the child can do about them. */
const WRONG = ["bad_json", "bad_message", "unknown_type", "too_large", "internal", "read_only"];

/**
 * @param {{code?: string, message?: string}} message an `error`
 * @param {(key: string) => string} t the page's words
 */
export function errorText(message, t) {
  const code = String(message.code);
  const known = Object.prototype.hasOwnProperty.call(ERRORS, code) ? ERRORS[code] : null;
  if (known) return known(t);
  if (WRONG.includes(code)) return `😕 ${t("went_wrong")}`;
  return `⚠️ ${String(message.message || message.code || "error")}`;
}
