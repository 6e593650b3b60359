/**
 * "Find it!" on the phone: the `hunt` messages of stream/webrtc/hunting.py drawn and spoken.
 * Looking: the prompt is said ("Can you find a cup?"), the word is shown big with its first
 * letter ("It starts with C."). A find (the server judges: seen steadily, never a flicker):
 * a silent celebration over the video, a ring on the object found, "You found a cup!" said,
 * a sticker, then the next prompt. Finished or stopped: "Words I found today", each word big
 * and tappable. In a class room the teacher starts and stops the hunt; the phone may skip.
 */

import { boxOnScreen } from "./marks.js";

/** How long the celebration stays over the video. */
export const CHEER_MS = 2200;

/**
 * @typedef {object} HuntHooks
 * @property {(message: object) => boolean} send to the server; false when not connected
 * @property {(text: string) => void} speak in the session's language
 * @property {(text: string) => void} keep say a word slowly and show it big (keep.js)
 * @property {(key: string, values?: Record<string, string | number>) => string} t a page word
 * @property {(word: string) => string | null} nameOf a detector word's name in the child's language
 * @property {(id: unknown) => {box: number[] | null} | undefined} object the latest object with this id
 * @property {() => {theme?: string, words?: string} | null} selection what to hunt (theme or words)
 * @property {() => boolean} live whether the camera is connected
 * @property {(text: string) => void} tell a short message (toast)
 * @property {(word: string, name: string) => void} [named] a hunt word and the name it is said with
 */

export class HuntView {
  /**
   * @param {HuntHooks} hooks
   * @param {import("./keep.js").TodayWords} today
   * @param {HTMLVideoElement} video
   */
  constructor(hooks, today, video) {
    this.hooks = hooks;
    this.today = today;
    this.video = video;
    this.el = Object.fromEntries(
      [
        "hunt", "hunt-prompt", "hunt-word", "hunt-hint", "hunt-letter", "hunt-count", "hunt-skip",
        "hunt-stop", "hunt-start", "stickers", "cheer", "cheer-text", "found-ring", "today",
        "today-list", "today-empty", "today-again", "today-done", "today-photos",
      ].map((id) => [id, /** @type {HTMLElement} */ (document.getElementById(id))]),
    );
    /** The last `hunt` message, or null. */
    this.last = null;
    this.spokenKey = "";
    this.timers = { cheer: 0, ring: 0, today: 0 };
    this.el["hunt-start"].addEventListener("click", () => this.start());
    this.el["today-again"].addEventListener("click", () => {
      this.hideToday();
      this.start();
    });
    this.el["hunt-skip"].addEventListener("click", () => this.action("skip"));
    this.el["hunt-stop"].addEventListener("click", () => this.action("stop"));
    this.el["today-done"].addEventListener("click", () => this.hideToday());
  }

  /** Whether a word is being looked for. */
  get active() {
    return Boolean(this.last && (this.last.state === "looking" || this.last.state === "found"));
  }

  /** Start a hunt over the theme or words chosen (none: the words in force). */
  start() {
    if (!this.hooks.live()) {
      this.hooks.tell(`📷 ${this.hooks.t("start_first")}`);
      return;
    }
    const selection = this.hooks.selection() || {};
    const message = { type: "hunt", action: "start", order: "list" };
    if (selection.theme) message.theme = selection.theme;
    else if (selection.words) message.words = selection.words;
    if (!this.hooks.send(message)) return;
    const button = this.el["hunt-start"];
    button.classList.add("busy"); // until the first prompt (or a refusal) comes
    setTimeout(() => button.classList.remove("busy"), 3000);
  }

  /** @param {"skip" | "stop"} action */
  action(action) {
    if (!this.hooks.send({ type: "hunt", action })) this.hooks.tell(`📷 ${this.hooks.t("start_first")}`);
  }

  /**
   * A `hunt` message.
   * @param {any} message
   */
  render(message) {
    const state = String(message.state || "");
    this.el["hunt-start"].classList.remove("busy");
    this.last = message;
    const looking = state === "looking" || state === "found";
    document.body.dataset.hunt = looking ? "on" : "off";
    document.body.classList.toggle("room-hunt", Boolean(message.room));
    const found = Array.isArray(message.found) ? message.found : [];
    this.today.add(found);
    this.renderStickers(found);
    if (message.just_found && typeof message.just_found === "object") this.celebrate(message.just_found);
    if (looking) {
      this.hideToday();
      this.renderWord(message);
      const key = `${message.position}|${message.word}|${message.prompt}`;
      if (state === "found" || key !== this.spokenKey) {
        this.spokenKey = key;
        if (message.prompt) this.hooks.speak(String(message.prompt));
      }
      if (message.word && message.name) this.hooks.named?.(String(message.word), String(message.name));
      this.el.hunt.hidden = false;
      return;
    }
    this.spokenKey = "";
    this.el.hunt.hidden = true;
    if (state === "finished" || state === "stopped") {
      clearTimeout(this.timers.today);
      this.timers.today = setTimeout(() => this.showToday(), message.just_found ? CHEER_MS : 0);
    }
  }

  /** The words shown again in the child's language (after a language change). */
  refresh() {
    if (!this.el.today.hidden) this.showToday();
    if (this.last) this.renderStickers(this.last.found || []);
  }

  /** Forget the hunt (the connection ended: the server's hunt went with it). */
  reset() {
    this.last = null;
    this.spokenKey = "";
    this.el.hunt.hidden = true;
    document.body.dataset.hunt = "off";
    document.body.classList.remove("room-hunt");
  }

  /** @private */
  renderWord(message) {
    const name = String(message.name || message.word || "");
    this.el["hunt-prompt"].textContent = String(message.prompt || "");
    this.el["hunt-word"].textContent = name;
    // the first letter, and the colour a child expects where the theme gives one
    this.el["hunt-hint"].textContent = [message.hint, message.colour_hint].filter(Boolean).join(" ");
    this.el["hunt-letter"].textContent = String(message.letter || name.charAt(0).toUpperCase());
    const total = Number(message.total) || 0;
    const position = Math.min(total, (Number(message.position) || 0) + 1);
    this.el["hunt-count"].textContent = total ? `${position}/${total}` : "";
    this.el["hunt-count"].setAttribute("aria-label", total ? `${position} / ${total}` : "");
    this.el["hunt-word"].dataset.detector = String(message.word || "");
  }

  /** @private */
  renderStickers(found) {
    const box = this.el.stickers;
    const names = found.map((item) => this.nameOf(item)).filter(Boolean);
    const now = [...box.children].map((el) => el.textContent);
    if (now.join("\n") === names.join("\n")) return;
    box.replaceChildren(...names.map((name) => this.wordButton(name, "sticker")));
    box.hidden = !names.length;
  }

  /**
   * @private The celebration: words and sparks over the video, a ring on the object.
   * @param {{word?: string, name?: string, say?: string, object?: unknown}} found
   */
  celebrate(found) {
    const say = String(found.say || found.name || "");
    if (say) this.hooks.speak(say);
    const cheer = this.el.cheer;
    this.el["cheer-text"].textContent = say;
    cheer.hidden = false;
    cheer.classList.remove("go");
    void cheer.offsetWidth; // restart the animation
    cheer.classList.add("go");
    clearTimeout(this.timers.cheer);
    this.timers.cheer = setTimeout(() => {
      cheer.hidden = true;
      cheer.classList.remove("go");
    }, CHEER_MS);
    const object = found.object != null ? this.hooks.object(found.object) : undefined;
    const ring = this.el["found-ring"];
    const rect = object && object.box ? boxOnScreen(this.video, object.box) : null;
    clearTimeout(this.timers.ring);
    if (!rect) {
      ring.hidden = true;
      return;
    }
    Object.assign(ring.style, {
      left: `${rect.left}px`,
      top: `${rect.top}px`,
      width: `${rect.width}px`,
      height: `${rect.height}px`,
    });
    ring.hidden = false;
    this.timers.ring = setTimeout(() => {
      ring.hidden = true;
    }, CHEER_MS + 600);
  }

  /** @private */
  showToday() {
    const names = this.today.words.map((item) => this.nameOf(item));
    this.el["today-list"].replaceChildren(...names.map((name) => this.wordButton(name, "today-word")));
    this.el["today-empty"].hidden = names.length > 0;
    this.el.today.hidden = false;
    this.el["today-done"].focus({ preventScroll: true });
    // in a class, the photos the teacher kept from this phone come next to the words
    this.el["today-photos"].replaceChildren();
    this.el["today-photos"].hidden = true;
    if (this.last && this.last.room) this.hooks.send({ type: "kept" });
  }

  /**
   * One `kept` message: a photo the teacher kept from this phone ({id, labels, picture} with
   * index and count), or {count: 0}. Shown small under today's words.
   * @param {{count?: number, picture?: unknown, labels?: unknown}} message
   */
  kept(message) {
    if (!message.count || typeof message.picture !== "string") return;
    if (!message.picture.startsWith("data:image/jpeg;base64,")) return;
    const image = document.createElement("img");
    image.src = message.picture;
    image.alt = Array.isArray(message.labels) ? message.labels.map((w) => this.nameOf({ word: w })).join(", ") : "";
    image.className = "today-photo";
    this.el["today-photos"].append(image);
    this.el["today-photos"].hidden = false;
  }

  /** @private */
  hideToday() {
    clearTimeout(this.timers.today);
    this.el.today.hidden = true;
  }

  /** @private */
  nameOf(item) {
    if (!item || typeof item.word !== "string") return "";
    return this.hooks.nameOf(item.word) || String(item.name || item.word);
  }

  /** @private A word to tap: said again slowly and shown big. */
  wordButton(name, className) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = className;
    button.textContent = name;
    button.addEventListener("click", () => this.hooks.keep(name));
    return button;
  }
}
