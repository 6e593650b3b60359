/**
 * Label chips under the video: one big rounded chip per label in its object's colour, with a
 * readable text colour. The model (nextChips) is pure; ChipBoard renders it with keyed DOM
 * updates so chips do not flicker or jump at the objects' message rate.
 */

import { readableTextColour, safeColour } from "./colour.js";
import { clamp01 } from "./geometry.js";

/** At most this many chips are shown. */
export const MAX_CHIPS = 5;
/** A chip stays this long after its label was last seen (hides one-frame drop-outs). */
export const LINGER_MS = 1200;

/**
 * @typedef {object} SceneObject
 * @property {string|number} id
 * @property {string} label
 * @property {string} say
 * @property {number} score
 * @property {[number, number, number, number]} box normalised x1, y1, x2, y2
 * @property {string} colour "#rrggbb"
 */

/**
 * @typedef {object} Chip
 * @property {string} key lowercased label
 * @property {string} label
 * @property {string} colour background "#rrggbb"
 * @property {string} textColour readable text colour on it
 * @property {number} score best score among its objects
 * @property {[number, number, number, number] | null} box its best object's box
 * @property {Array<string|number>} ids all objects with this label in the latest message
 * @property {number} count how many objects have this label
 * @property {string} say the best object's phrase
 * @property {number} firstSeen ms
 * @property {number} lastSeen ms
 */

/**
 * Keep only well-formed objects from an `objects` message.
 * @param {unknown} list
 * @returns {SceneObject[]}
 */
export function cleanObjects(list) {
  if (!Array.isArray(list)) return [];
  const out = [];
  for (const o of list) {
    if (!o || typeof o !== "object") continue;
    const label = typeof o.label === "string" ? o.label.trim().slice(0, 40) : "";
    if (!label) continue;
    const box =
      Array.isArray(o.box) && o.box.length === 4 && o.box.every((v) => Number.isFinite(v))
        ? /** @type {[number, number, number, number]} */ (o.box.map(clamp01))
        : null;
    out.push({
      id: typeof o.id === "number" || typeof o.id === "string" ? o.id : label,
      label,
      say: typeof o.say === "string" ? o.say : "",
      score: Number.isFinite(o.score) ? o.score : 0,
      box,
      colour: safeColour(o.colour),
    });
  }
  return out;
}

/**
 * The chips to show after an `objects` message (or, with `objects` null, after time passed).
 * One chip per label (its most confident object). Labels not seen now linger for `lingerMs`.
 * At most `max`: labels seen now first, then the most confident, then the newest; the chosen
 * chips keep the order in which they first appeared, so they do not jump around.
 * @param {Chip[]} previous
 * @param {SceneObject[] | null} objects
 * @param {number} now ms
 * @param {{max?: number, lingerMs?: number}} [options]
 * @returns {Chip[]}
 */
export function nextChips(previous, objects, now, { max = MAX_CHIPS, lingerMs = LINGER_MS } = {}) {
  const before = new Map(previous.map((c) => [c.key, c]));
  /** @type {Map<string, Chip>} */
  const chips = new Map();
  for (const o of objects || []) {
    const key = o.label.toLowerCase();
    const seen = chips.get(key);
    if (seen) {
      seen.count += 1;
      seen.ids.push(o.id);
      if (o.score > seen.score) Object.assign(seen, { label: o.label, score: o.score, box: o.box, colour: o.colour, say: o.say });
      continue;
    }
    chips.set(key, {
      key,
      label: o.label,
      colour: o.colour,
      textColour: "",
      score: o.score,
      box: o.box,
      ids: [o.id],
      count: 1,
      say: o.say,
      firstSeen: before.get(key)?.firstSeen ?? now,
      lastSeen: now,
    });
  }
  for (const old of previous) {
    if (!chips.has(old.key) && now - old.lastSeen < lingerMs) chips.set(old.key, old);
  }
  const ranked = [...chips.values()].sort(
    (a, b) =>
      Number(b.lastSeen === now) - Number(a.lastSeen === now) ||
      b.score - a.score ||
      b.firstSeen - a.firstSeen ||
      a.key.localeCompare(b.key),
  );
  return ranked
    .slice(0, Math.max(0, max))
    .map((c) => ({ ...c, textColour: readableTextColour(c.colour) }))
    .sort((a, b) => a.firstSeen - b.firstSeen || a.key.localeCompare(b.key));
}

/** Renders chips into a container and keeps them up to date. */
export class ChipBoard {
  /**
   * @param {HTMLElement} container the aria-live chips region
   * @param {{onPick?: (chip: Chip) => void, max?: number, lingerMs?: number, now?: () => number,
   *          names?: boolean}} [options] names: show `say` (the child's language), not `label`
   */
  constructor(container, options = {}) {
    this.container = container;
    this.options = options;
    this.now = options.now || (() => Date.now());
    /** @type {Chip[]} */
    this.chips = [];
    /** @type {Map<string, HTMLButtonElement>} */
    this.elements = new Map();
    this.frozen = false;
    this.expiry = 0;
    /** When the chips were last worked out (chips not seen then are lingering). */
    this.seenAt = 0;
    /** @type {SceneObject[]} the latest `objects` message's objects (still in view) */
    this.latest = [];
  }

  /**
   * Apply an `objects` message's list.
   * @param {unknown} objects
   */
  update(objects) {
    this.apply(cleanObjects(objects));
  }

  /**
   * While frozen (mode "pause") chips do not expire.
   * @param {boolean} frozen
   */
  setFrozen(frozen) {
    this.frozen = Boolean(frozen);
    if (!this.frozen) this.apply(null);
  }

  /** Remove every chip (connection lost, page hidden). */
  clear() {
    clearTimeout(this.expiry);
    this.chips = [];
    this.latest = [];
    this.render();
  }

  /**
   * The labels shown, in order (with `names`: the names in the child's language).
   * @returns {string[]}
   */
  labels() {
    return this.chips.map((c) => this.nameOf(c));
  }

  /**
   * What a chip shows: its object's name in the child's language (`say`) with the `names`
   * option, else its detector label.
   * @param {Chip} chip
   */
  nameOf(chip) {
    return (this.options.names && chip.say) || chip.label;
  }

  /**
   * Briefly highlight the chips of the objects a `say` is about.
   * @param {unknown} ids
   */
  highlight(ids) {
    if (!Array.isArray(ids) || !ids.length) return;
    const wanted = new Set(ids.map(String));
    for (const chip of this.chips) {
      if (!chip.ids.some((id) => wanted.has(String(id)))) continue;
      const el = this.elements.get(chip.key);
      if (!el) continue;
      el.classList.remove("chip-say");
      void el.offsetWidth; // restart the animation
      el.classList.add("chip-say");
      setTimeout(() => el.classList.remove("chip-say"), 1500);
    }
  }

  /**
   * @private The server sends `objects` only when they change, so the latest message's objects
   * are still in view until the next one: they stay; the others linger `lingerMs`, then go.
   * @param {SceneObject[] | null} objects a new message's, or null (time passed)
   */
  apply(objects) {
    if (objects === null && this.frozen) return;
    if (objects !== null) this.latest = objects;
    const now = this.now();
    this.seenAt = now;
    this.chips = nextChips(this.chips, this.latest, now, { max: this.options.max, lingerMs: this.options.lingerMs });
    this.render();
    clearTimeout(this.expiry);
    const lingerMs = this.options.lingerMs ?? LINGER_MS;
    const lingering = this.chips.filter((c) => c.lastSeen !== now);
    if (lingering.length) {
      const soonest = Math.min(...lingering.map((c) => c.lastSeen)) + lingerMs - now;
      this.expiry = setTimeout(() => this.apply(null), Math.max(50, soonest + 10));
    }
  }

  /** @private Keyed update: reuse elements, add new ones, remove gone ones, fix the order. */
  render() {
    const keep = new Set(this.chips.map((c) => c.key));
    for (const [key, el] of this.elements) {
      if (!keep.has(key)) {
        el.remove();
        this.elements.delete(key);
      }
    }
    this.chips.forEach((chip, index) => {
      let el = this.elements.get(chip.key);
      if (!el) {
        el = this.create(chip.key);
        this.elements.set(chip.key, el);
      }
      const label = /** @type {HTMLElement} */ (el.firstChild);
      const count = /** @type {HTMLElement} */ (el.lastChild);
      const text = this.nameOf(chip);
      if (label.textContent !== text) label.textContent = text;
      const countText = chip.count > 1 ? `\u00d7${chip.count}` : "";
      if (count.textContent !== countText) count.textContent = countText;
      count.hidden = !countText;
      el.dataset.label = chip.label;
      el.classList.toggle("chip-gone", chip.lastSeen !== this.seenAt);
      el.style.backgroundColor = chip.colour;
      el.style.color = chip.textColour;
      el.setAttribute("aria-label", chip.count > 1 ? `${chip.count} ${text}` : text);
      el.title = chip.say || chip.label;
      if (this.container.children[index] !== el) this.container.insertBefore(el, this.container.children[index] || null);
    });
  }

  /** @private */
  create(key) {
    const el = document.createElement("button");
    el.type = "button";
    el.className = "chip chip-new";
    const label = document.createElement("span");
    label.className = "chip-label";
    const count = document.createElement("span");
    count.className = "chip-count";
    count.setAttribute("aria-hidden", "true");
    el.append(label, count);
    el.addEventListener("animationend", () => el.classList.remove("chip-new"), { once: true });
    el.addEventListener("click", () => {
      const chip = this.chips.find((c) => c.key === key);
      if (chip) this.options.onPick?.(chip);
    });
    return el;
  }
}
