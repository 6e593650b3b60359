/**
 * The teacher's "🎯 Find it! game" panel (teacher.html, pages/teacher.js) and the room's
 * "Class language" menu.
 *
 * Before a game: a words box or a theme menu (the server's themes, GET /api/choices), the order
 * (1️⃣ in order, 🔀 mixed up) and a big ▶️ Start (POST /api/rooms/CODE/hunt {action: "start"}).
 * While it is on: ⏹ Stop ({action: "stop"}), every phone's progress (name, "2 of 5", the words it
 * found as stickers, the word it looks for now), the latest finds each with a one-tap
 * "📺 Show on screen" (POST .../presenter) and "⬇️ Download results (CSV)" (GET .../hunt.csv).
 * After it: the results stay, with the form back for a new game.
 *
 * It reads the room's description the page polls every second (`hunt`: null or {id, words,
 * ended, phones, finds}), and updates in place: rows and buttons are kept by key, so a poll
 * never swallows a tap, and nothing typed in the form is touched.
 * body[data-hunt] and #hunt-panel[data-hunt]: none | on | over.
 */
import { api } from "./api.js";
import { byId as $ } from "./dom.js";
import { limitLength } from "./choices.js";
import { normaliseThemes, themeLabel } from "./vocabulary.js";

/**
 * Words for a refused start, stop or language a teacher can act on (never the raw reason).
 * @param {any} error
 * @param {(error: any) => string} otherwise the page's own words for the other failures
 */
export function huntTrouble(error, otherwise) {
  if (!error || error.status !== 400) return otherwise(error);
  const reason = String(error.message || "").toLowerCase();
  const most = reason.match(/at most (\d+) (words|things)/) || reason.match(/name at most (\d+)/);
  if (most || reason.includes("too many words")) {
    return most ? `⚠️ Too many words. Use ${most[1]} or fewer.` : "⚠️ Too many words. Use fewer.";
  }
  if (reason.includes("too long") || reason.includes("longer than")) return "⚠️ That is too long. Use shorter words.";
  if (reason.includes("theme")) return "⚠️ That theme is not there. Pick another one.";
  if (reason.includes("language")) return "⚠️ That language is not there. Pick another one.";
  if (reason.includes("empty") || reason.includes("at least one") || reason.includes("either")) {
    return "✏️ Type some words, or pick a theme.";
  }
  return "⚠️ Those words did not work. Try other words, with commas between them.";
}

/**
 * Make `list`'s children match `items` in order, one element per key: new ones made by `make`,
 * every one updated by `update`, the rest removed.
 * @template T
 * @param {HTMLElement} list
 * @param {T[]} items
 * @param {(item: T) => string} key
 * @param {(item: T) => HTMLElement} make
 * @param {(element: HTMLElement, item: T) => void} update
 */
function syncList(list, items, key, make, update) {
  const old = new Map([...list.children].map((child) => [/** @type {HTMLElement} */ (child).dataset.key, child]));
  items.forEach((item, index) => {
    const id = key(item);
    let element = /** @type {HTMLElement | undefined} */ (old.get(id));
    if (element) old.delete(id);
    else {
      element = make(item);
      element.dataset.key = id;
    }
    if (list.children[index] !== element) list.insertBefore(element, list.children[index] || null);
    update(element, item);
  });
  for (const child of old.values()) child.remove();
}

/** @param {string} tag @param {string} className @param {string} [text] */
function el(tag, className, text) {
  const element = document.createElement(tag);
  element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

export class ClassHuntPanel {
  /**
   * @param {{code: string, onRoom: (room: any) => void, friendly: (error: any) => string}} options
   *        code: the room's; onRoom: show an answer (the room's description) on the whole page;
   *        friendly: the page's words for a failed call
   */
  constructor({ code, onRoom, friendly }) {
    this.code = code;
    this.onRoom = onRoom;
    this.friendly = friendly;
    /** The room last shown. */
    this.room = null;
    /** A language asked for and not answered yet (the poll does not undo the menu meanwhile). */
    this.pendingLanguage = null;
    this.busy = false;
    $("hunt-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.start();
    });
    $("hunt-stop").addEventListener("click", () => this.post("hunt", { action: "stop" }, "hunt-error"));
    // a theme or words: picking one clears the other, so what Start sends is what is seen
    $("hunt-theme").addEventListener("change", () => {
      if ($("hunt-theme").value) $("hunt-words").value = "";
    });
    $("hunt-words").addEventListener("input", () => {
      if ($("hunt-words").value.trim()) $("hunt-theme").value = "";
    });
    $("room-language").addEventListener("change", async () => {
      this.pendingLanguage = $("room-language").value;
      await this.post("language", { language: this.pendingLanguage }, "language-error");
      this.pendingLanguage = null;
    });
  }

  /** The server's themes, languages and box limits (GET /api/choices). */
  useChoices(choices) {
    limitLength($("hunt-words"), choices.limits, "max_words_chars");
    const select = $("hunt-theme");
    const chosen = select.value;
    for (const option of [...select.options]) if (option.value) option.remove();
    for (const theme of normaliseThemes(choices.themes)) select.add(new Option(themeLabel(theme), theme.name));
    select.value = [...select.options].some((option) => option.value === chosen) ? chosen : "";
    const languages = $("room-language");
    if (Array.isArray(choices.languages) && choices.languages.length) {
      languages.replaceChildren(
        ...choices.languages
          .filter((item) => item && typeof item.code === "string")
          .map((item) => new Option(String(item.name || item.code), item.code)),
      );
    }
    if (this.room) this.render(this.room);
  }

  async start() {
    $("hunt-error").textContent = "";
    const theme = $("hunt-theme").value;
    const words = $("hunt-words").value.trim();
    if (!theme && !words) {
      $("hunt-error").textContent = "✏️ Type some words, or pick a theme.";
      $("hunt-words").focus();
      return;
    }
    const order = /** @type {HTMLInputElement} */ (document.querySelector("input[name='hunt-order']:checked"));
    const body = theme ? { action: "start", theme } : { action: "start", words };
    await this.post("hunt", { ...body, order: order ? order.value : "list" }, "hunt-error");
  }

  /**
   * POST to the room's API; the answer shown on the whole page, a refusal in words under `errorId`.
   * @param {string} what @param {object} body @param {string} errorId
   */
  async post(what, body, errorId) {
    if (this.busy) return;
    this.busy = true;
    $(errorId).textContent = "";
    for (const id of ["hunt-start", "hunt-stop"]) $(id).disabled = true;
    try {
      const answer = await api("POST", `/api/rooms/${encodeURIComponent(this.code)}/${what}`, body);
      this.onRoom(answer);
    } catch (error) {
      $(errorId).textContent = huntTrouble(error, this.friendly);
    } finally {
      this.busy = false;
      for (const id of ["hunt-start", "hunt-stop"]) $(id).disabled = false;
    }
  }

  /** Show the room's description (every poll, every answer). */
  render(room) {
    this.room = room;
    const language = $("room-language");
    const wanted = this.pendingLanguage ?? room.language ?? "en";
    if (![...language.options].some((option) => option.value === wanted)) language.add(new Option(wanted, wanted));
    language.value = wanted;

    const hunt = room.hunt && typeof room.hunt === "object" ? room.hunt : null;
    const mode = !hunt ? "none" : hunt.ended ? "over" : "on";
    $("hunt-panel").dataset.hunt = mode;
    document.body.dataset.hunt = mode;
    $("hunt-form").hidden = mode === "on";
    $("hunt-stop").hidden = mode !== "on";
    $("hunt-start").textContent = mode === "over" ? "▶️ Start a new game" : "▶️ Start";
    const phones = Array.isArray(room.phones) ? room.phones : [];
    $("hunt-no-phones").hidden = phones.length > 0;
    $("hunt-status").textContent = this.status(mode, hunt, phones.length);

    const csv = $("hunt-csv");
    csv.hidden = !hunt;
    const href = `/api/rooms/${encodeURIComponent(this.code)}/hunt.csv`;
    if (csv.getAttribute("href") !== href) csv.setAttribute("href", href);
    csv.setAttribute("download", `find-it-${this.code}.csv`);

    this.renderPhones(hunt, phones);
    this.renderFinds(hunt, room, phones);
  }

  /** The panel's one line for the state it is in. */
  status(mode, hunt, phoneCount) {
    if (mode === "none") return "Type some words or pick a theme, then press Start.";
    const words = hunt.words.length;
    const count = `${words} ${words === 1 ? "word" : "words"}: ${hunt.words.join(", ")}`;
    if (mode === "over") return `🏁 Game over (${count}). The results stay here.`;
    const playing = phoneCount === 1 ? "1 phone is playing" : `${phoneCount} phones are playing`;
    return `🎯 The game is on! ${count}.${phoneCount ? ` ${playing}.` : ""}`;
  }

  /** Every phone of the room, and the phones that played and left: where each stands. */
  renderPhones(hunt, phones) {
    const list = $("hunt-phones");
    if (!hunt) {
      list.replaceChildren();
      return;
    }
    const standing = new Map((hunt.phones || []).map((phone) => [phone.id, phone]));
    const here = new Set(phones.map((phone) => phone.id));
    const rows = [
      ...(hunt.phones || []).map((phone) => ({ ...phone, left: !here.has(phone.id) })),
      ...phones
        .filter((phone) => !standing.has(phone.id))
        .map((phone) => ({ id: phone.id, name: phone.name, found: [], current: null, finished: false, left: false, waiting: true })),
    ];
    const total = hunt.words.length;
    syncList(
      list,
      rows,
      (row) => row.id,
      () => {
        const item = el("li", "hunt-phone");
        const head = el("div", "hp-head");
        head.append(el("strong", "hp-name"), el("span", "hp-count"), el("span", "hp-now"));
        item.append(head, el("div", "hp-stickers"));
        return item;
      },
      (item, row) => {
        const q = (selector) => /** @type {HTMLElement} */ (item.querySelector(selector));
        const found = Array.isArray(row.found) ? row.found : [];
        item.dataset.session = row.id;
        item.dataset.finished = String(Boolean(row.finished));
        q(".hp-name").textContent = row.name;
        q(".hp-count").textContent = `${found.length} of ${total}`;
        q(".hp-now").textContent = row.left
          ? "👋 Left the room"
          : row.finished
            ? "🏁 All done!"
            : hunt.ended
              ? ""
              : row.waiting || !row.current
                ? "⏳ Getting ready"
                : `🔎 Looking for: ${row.current}`;
        const stickers = q(".hp-stickers");
        if (stickers.dataset.words !== found.join("\n")) {
          stickers.dataset.words = found.join("\n");
          stickers.replaceChildren(...found.map((word) => el("span", "hunt-sticker", `✓ ${word}`)));
        }
      },
    );
  }

  /** The latest finds, newest first, each with "📺 Show on screen". */
  renderFinds(hunt, room, phones) {
    const finds = hunt && Array.isArray(hunt.finds) ? hunt.finds : [];
    $("hunt-finds-title").hidden = !hunt;
    const here = new Set(phones.map((phone) => phone.id));
    const list = $("hunt-finds");
    if (hunt && !finds.length) {
      list.replaceChildren(el("li", "hunt-none", hunt.ended ? "Nobody found a word this time." : "No finds yet. Keep looking!"));
      return;
    }
    if (list.querySelector(".hunt-none")) list.replaceChildren();
    syncList(
      list,
      finds,
      (find) => `${find.phone}\n${find.word}`,
      (find) => {
        const item = el("li", "hunt-find");
        const button = el("button", "big show-find", "📺 Show on screen");
        button.type = "button";
        button.addEventListener("click", () => this.post("presenter", { session: find.phone }, "hunt-error"));
        item.append(el("span", "hf-text"), button);
        item.dataset.session = find.phone;
        return item;
      },
      (item, find) => {
        const seconds = Number(find.seconds);
        const when = Number.isFinite(seconds) ? ` · ${Math.round(seconds)} s` : "";
        /** @type {HTMLElement} */ (item.querySelector(".hf-text")).textContent = `⭐ ${find.name} found ${find.word}${when}`;
        const button = /** @type {HTMLButtonElement} */ (item.querySelector(".show-find"));
        const showing = room.presenting === find.phone;
        button.hidden = !here.has(find.phone);
        button.disabled = showing;
        button.textContent = showing ? "📺 On the screen now" : "📺 Show on screen";
      },
    );
  }
}
