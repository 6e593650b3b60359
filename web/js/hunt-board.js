/**
 * The class "Find it!" on the class screen (pages/screen.js): a board down the left side with
 * the hunt's words, big, each ticked ✅ once any phone found it (and how many did), and a row
 * per phone (its name, a bar, "2/5"); a find is a big banner over the rest ("Table 3 found a
 * banana!", in the room's language), said aloud when the room's projector speech is on, then
 * gone; the hunt over, the board says "🎉 Well done!" and the results stay a few minutes (or
 * until the next hunt).
 *
 * It hears the room's `room` messages (`hunt`: the hunt's id or null, `hunt_words`) and its
 * `class_hunt` messages ({id, words, ended, phones, finds, news?}, stream/classroom/hunt_api.py).
 * body[data-hunt]: none | on | over; body.news-on while a banner shows.
 */
import { byId as $ } from "./dom.js";

/** How long a find's banner stays. */
export const NEWS_MS = 4000;
/** Banners waiting their turn (older ones are dropped: the board shows every find anyway). */
const MAX_WAITING = 3;
/** How long "Well done!" stays after the hunt ended, unless a new one starts. */
export const SUMMARY_MS = 3 * 60 * 1000;

/** @param {string} tag @param {string} className @param {string} [text] */
function el(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

export class HuntBoard {
  /**
   * @param {{say: (text: string) => void, changed?: () => void}} hooks say: speak a banner
   *        (the page's speaker decides whether it may); changed: the board appeared or went
   */
  constructor(hooks) {
    this.hooks = hooks;
    /** none | on | over */
    this.mode = "none";
    this.id = "";
    /** @type {string[]} */
    this.words = [];
    /** @type {Record<string, string>} word → its name in the room's language */
    this.names = {};
    /** @type {any[]} */
    this.phones = [];
    /** @type {string[]} banners waiting to show */
    this.queue = [];
    /** Every banner shown, oldest first (for tests: window.vaScreen.hunt.news). */
    this.shown = [];
    this.newsTimer = 0;
    this.summaryTimer = 0;
    document.body.dataset.hunt = "none";
    addEventListener("resize", () => {
      if (this.mode !== "none") this.render();
    });
  }

  /** A `room` message: a hunt the screen has not heard of yet starts; no hunt ends one. */
  onRoom(room) {
    const id = typeof room.hunt === "string" ? room.hunt : "";
    if (id && id !== this.id) {
      this.begin(id, Array.isArray(room.hunt_words) ? room.hunt_words.map(String) : []);
      this.render();
    } else if (!id && this.mode === "on") {
      this.finish();
      this.render();
    }
  }

  /** A `class_hunt` message: where every phone stands, and maybe a find's news. */
  onClassHunt(message) {
    const id = String(message.id || "");
    if (!id) return;
    if (id !== this.id) this.begin(id, []);
    if (Array.isArray(message.words)) this.words = message.words.map(String);
    // each word's name in the room's language (the words are the detector's English)
    if (message.names && typeof message.names === "object") this.names = message.names;
    this.phones = Array.isArray(message.phones) ? message.phones : [];
    if (message.ended) {
      if (this.mode !== "over") this.finish();
    } else if (this.mode !== "on") this.setMode("on");
    this.render();
    const news = message.news && typeof message.news === "object" ? message.news : null;
    if (news && !message.ended && typeof news.say === "string" && news.say.trim()) this.announce(news.say.trim());
  }

  /** @private */
  begin(id, words) {
    this.id = id;
    this.words = words;
    this.phones = [];
    clearTimeout(this.summaryTimer);
    this.setMode("on");
  }

  /** @private The hunt ended: "Well done!" for a while. */
  finish() {
    this.queue = [];
    this.hideNews();
    this.setMode("over");
    clearTimeout(this.summaryTimer);
    this.summaryTimer = setTimeout(() => this.setMode("none"), SUMMARY_MS);
  }

  /** @private */
  setMode(mode) {
    const was = this.mode;
    this.mode = mode;
    document.body.dataset.hunt = mode;
    $("hunt-board").hidden = mode === "none";
    if (was !== mode) this.hooks.changed?.();
  }

  /** How many phones found `word`. */
  finders(word) {
    return this.phones.filter((phone) => Array.isArray(phone.found) && phone.found.includes(word)).length;
  }

  /** @private */
  render() {
    const over = this.mode === "over";
    $("hunt-title").textContent = over ? "🎉 Well done!" : "🎯 Find it!";
    const list = $("hunt-words");
    const many = this.words.length;
    list.dataset.size = many <= 5 ? "big" : many <= 10 ? "middle" : many <= 20 ? "small" : "tiny";
    list.replaceChildren(
      ...this.words.map((word) => {
        const count = this.finders(word);
        const item = el("li", "hunt-word");
        item.dataset.found = String(count > 0);
        const tick = el("span", "hw-tick", count ? "✓" : ""); // drawn, not an emoji: every screen has it
        tick.setAttribute("aria-label", count ? "found" : "not found yet");
        const name = this.names && typeof this.names[word] === "string" ? this.names[word] : word;
        item.append(tick, el("span", "hw-name", name));
        if (count > 1) item.append(el("span", "hw-count", `×${count}`));
        return item;
      }),
    );
    const total = this.words.length;
    const found = this.phones.reduce((sum, phone) => sum + (Array.isArray(phone.found) ? phone.found.length : 0), 0);
    $("hunt-sum").textContent = over
      ? found === 1
        ? "We found 1 thing!"
        : `We found ${found} things!`
      : this.phones.length
        ? ""
        : "Show these to your camera!";
    const rows = [...this.phones].sort((a, b) => (b.found?.length || 0) - (a.found?.length || 0));
    const tables = $("hunt-tables");
    tables.replaceChildren(
      ...rows.map((phone) => {
        const count = Array.isArray(phone.found) ? phone.found.length : 0;
        const item = el("li", "hunt-table");
        item.dataset.session = String(phone.id);
        const bar = /** @type {HTMLProgressElement} */ (el("progress", "ht-bar"));
        bar.max = Math.max(total, 1);
        bar.value = count;
        bar.setAttribute("aria-label", `${count} of ${total}`);
        item.append(el("span", "ht-name", String(phone.name || "")), bar, el("span", "ht-count", `${phone.finished ? "🏁 " : ""}${count}/${total}`));
        return item;
      }),
    );
    this.fit(tables);
  }

  /** @private Rows that do not fit the board are left out, with "+ N more" saying so. */
  fit(tables) {
    const rows = [...tables.children];
    let hidden = 0;
    const more = el("li", "hunt-table more");
    tables.append(more);
    more.hidden = true;
    for (let index = rows.length - 1; index >= 0 && tables.scrollHeight > tables.clientHeight + 1; index -= 1) {
      rows[index].hidden = true;
      hidden += 1;
      more.hidden = false;
      more.textContent = `+ ${hidden} more`;
    }
  }

  /** @private A find's banner, now or after the one showing. */
  announce(text) {
    if (this.newsTimer) {
      this.queue.push(text);
      if (this.queue.length > MAX_WAITING) this.queue.shift();
      return;
    }
    this.showNews(text);
  }

  /** @private */
  showNews(text) {
    this.shown.push(text);
    if (this.shown.length > 50) this.shown.shift();
    $("hunt-news-text").textContent = `🎉 ${text}`;
    $("hunt-news").hidden = false;
    document.body.classList.add("news-on");
    this.hooks.say(text);
    this.newsTimer = setTimeout(() => {
      this.newsTimer = 0;
      const next = this.queue.shift();
      if (next) this.showNews(next);
      else this.hideNews();
    }, NEWS_MS);
  }

  /** @private */
  hideNews() {
    clearTimeout(this.newsTimer);
    this.newsTimer = 0;
    $("hunt-news").hidden = true;
    document.body.classList.remove("news-on");
  }

  /** The room ended: no board. */
  close() {
    this.queue = [];
    this.hideNews();
    clearTimeout(this.summaryTimer);
    this.setMode("none");
  }

  /** For tests (window.vaScreen.hunt). */
  get debug() {
    return { mode: this.mode, id: this.id, words: [...this.words], news: [...this.shown] };
  }
}
