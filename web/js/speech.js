/**
 * Speaking `say` events with the Web Speech API, child-friendly and never chattering:
 * slightly slow and bright (rate 0.9, pitch 1.1); at most one phrase waits behind the one being
 * spoken, and a newer phrase cancels older queued ones; the same phrase twice within a moment
 * is said once. Every request is recorded (spoken or not, and why not) for tests and debugging.
 */

/** Speaking rate and pitch for children. */
export const RATE = 0.9;
export const PITCH = 1.1;
/** The same text again within this window is not repeated. */
export const REPEAT_WINDOW_MS = 1500;
/** Longest text we pass to the synthesiser. */
export const MAX_TEXT_CHARS = 200;

/**
 * @typedef {object} SpeechRecord
 * @property {string} text what was asked to be said
 * @property {boolean} spoken whether it was handed to speechSynthesis
 * @property {string} reason why not: "off" | "paused" | "unavailable" | "repeat" | "empty" | "failed" | ""
 * @property {number} at ms since the epoch
 * @property {Array<string|number>} ids the objects the phrase is about
 * @property {string} lang the language it was said in
 */

export class Speaker {
  /**
   * @param {{synth?: SpeechSynthesis | null, Utterance?: typeof SpeechSynthesisUtterance | null,
   *          enabled?: boolean, lang?: string, onRecord?: (record: SpeechRecord) => void,
   *          now?: () => number, repeatWindowMs?: number}} [options] synth and Utterance default
   *          to the browser's; repeatWindowMs: how long the same text again is not repeated
   *          (REPEAT_WINDOW_MS; Infinity: never twice in a row, as the class screen wants)
   */
  constructor(options = {}) {
    this.synth = "synth" in options ? options.synth : globalThis.speechSynthesis || null;
    this.Utterance = "Utterance" in options ? options.Utterance : globalThis.SpeechSynthesisUtterance || null;
    this.enabled = options.enabled ?? true;
    this.paused = false;
    this.lang = options.lang || "en";
    this.onRecord = options.onRecord;
    this.now = options.now || Date.now;
    this.repeatWindowMs = options.repeatWindowMs ?? REPEAT_WINDOW_MS;
    this.lastText = "";
    this.lastAt = -Infinity;
    /** @type {SpeechSynthesisVoice | null | undefined} undefined: not chosen yet */
    this.chosenVoice = undefined;
    if (this.synth && typeof this.synth.addEventListener === "function") {
      this.synth.addEventListener("voiceschanged", () => {
        this.chosenVoice = undefined;
      });
    }
  }

  /** Whether this browser can speak at all. */
  get available() {
    return Boolean(this.synth && typeof this.Utterance === "function");
  }

  /**
   * Turn speaking on or off; off also silences what is being said.
   * @param {boolean} on
   */
  setEnabled(on) {
    this.enabled = Boolean(on);
    if (!this.enabled) this.cancel();
  }

  /**
   * While paused (mode "pause"), phrases are recorded but not said.
   * @param {boolean} paused
   */
  setPaused(paused) {
    this.paused = Boolean(paused);
    if (this.paused) this.cancel();
  }

  /** Call from a user gesture (tap): browsers only let a page speak after one. */
  unlock() {
    if (!this.available || !this.enabled) return;
    try {
      this.synth.resume?.();
      const silent = new this.Utterance(" ");
      silent.volume = 0;
      this.synth.speak(silent);
    } catch (error) {
      console.warn("[va] speech unlock failed", error);
    }
  }

  /** Stop talking and drop anything queued. */
  cancel() {
    if (!this.available) return;
    try {
      this.synth.cancel();
    } catch {
      /* nothing to cancel */
    }
  }

  /**
   * Speak another language from now on (a BCP 47 code: "fr", "es").
   * @param {string} lang
   */
  setLang(lang) {
    const next = String(lang || "en");
    if (next === this.lang) return;
    this.lang = next;
    this.chosenVoice = undefined;
  }

  /**
   * Say a phrase (or record why not).
   * @param {unknown} text
   * @param {Array<string|number>} [ids]
   * @param {{rate?: number, again?: boolean}} [options] rate: slower for a word to keep (0.6);
   *        again: say it even if it was just said (the child asked for it)
   * @returns {SpeechRecord}
   */
  speak(text, ids = [], options = {}) {
    const clean = String(text ?? "").replace(/\s+/g, " ").trim().slice(0, MAX_TEXT_CHARS);
    const now = this.now();
    /** @type {SpeechRecord} */
    const record = {
      text: clean,
      spoken: false,
      reason: "",
      at: now,
      ids: Array.isArray(ids) ? ids.slice(0, 20) : [],
      lang: this.lang,
    };
    if (!clean) record.reason = "empty";
    else if (!this.enabled) record.reason = "off";
    else if (this.paused) record.reason = "paused";
    else if (!this.available) record.reason = "unavailable";
    else if (!options.again && clean === this.lastText && now - this.lastAt < this.repeatWindowMs) record.reason = "repeat";
    else {
      try {
        this.say(clean, options.rate);
        record.spoken = true;
        this.lastText = clean;
        this.lastAt = now;
      } catch (error) {
        console.warn("[va] speech failed", error);
        record.reason = "failed";
      }
    }
    try {
      this.onRecord?.(record);
    } catch (error) {
      console.error("[va] speech record hook failed", error);
    }
    return record;
  }

  /** @private */
  say(text, rate = RATE) {
    const synth = /** @type {SpeechSynthesis} */ (this.synth);
    // One phrase may wait behind the current one; a third drops both older ones.
    if (synth.pending) synth.cancel();
    if (synth.paused) synth.resume();
    const utterance = new /** @type {typeof SpeechSynthesisUtterance} */ (this.Utterance)(text);
    utterance.rate = rate;
    utterance.pitch = PITCH;
    utterance.volume = 1;
    utterance.lang = this.lang;
    const voice = this.voice();
    if (voice) utterance.voice = voice;
    utterance.onerror = (event) => {
      if (event.error !== "canceled" && event.error !== "interrupted") {
        console.warn("[va] speech error:", event.error);
      }
    };
    synth.speak(utterance);
  }

  /** @private A local voice for our language when the browser lists one. */
  voice() {
    if (this.chosenVoice !== undefined) return this.chosenVoice;
    let voices = [];
    try {
      voices = this.synth.getVoices ? this.synth.getVoices() : [];
    } catch {
      voices = [];
    }
    if (!voices.length) return null;
    const want = this.lang.toLowerCase();
    const base = want.split("-")[0];
    const lang = (v) => String(v.lang || "").toLowerCase().replace("_", "-");
    this.chosenVoice =
      voices.find((v) => lang(v) === want && v.localService) ||
      voices.find((v) => lang(v).startsWith(base) && v.localService) ||
      voices.find((v) => lang(v).startsWith(base)) ||
      null;
    return this.chosenVoice;
  }
}
