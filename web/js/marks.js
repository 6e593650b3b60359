/**
 * Marks drawn over the returned video: where an object's box lies on screen (for the ring on
 * a hunt's find), and the answer to a tap on the picture: "I'm looking…", then the name of
 * what is there or "Nothing there yet", so no tap goes without an answer.
 */

import { contentRect, parseObjectPosition } from "./geometry.js";

/** How long the page waits for the server to find something where the child tapped. */
export const TAP_WAIT_MS = 1200;
/** How long the answer stays. */
export const TAP_ANSWER_MS = 1800;

/**
 * The client rectangle of a normalised video box on a <video> element (letterbox aware).
 * @param {HTMLVideoElement} video
 * @param {number[]} box x1, y1, x2, y2 in 0..1
 * @returns {{left: number, top: number, width: number, height: number} | null}
 */
export function boxOnScreen(video, box) {
  if (!Array.isArray(box) || box.length !== 4) return null;
  const bounds = video.getBoundingClientRect();
  const style = getComputedStyle(video);
  const rect = contentRect(
    bounds.width,
    bounds.height,
    video.videoWidth,
    video.videoHeight,
    style.objectFit || "contain",
    parseObjectPosition(style.objectPosition),
  );
  if (!rect) return null;
  const [x1, y1, x2, y2] = box;
  return {
    left: bounds.left + rect.x + x1 * rect.width,
    top: bounds.top + rect.y + y1 * rect.height,
    width: Math.max(0, (x2 - x1) * rect.width),
    height: Math.max(0, (y2 - y1) * rect.height),
  };
}

/**
 * The object whose box holds a normalised point (the smallest such box), or null.
 * @template {{box: number[] | null}} T
 * @param {T[]} objects
 * @param {{x: number, y: number}} point
 * @returns {T | null}
 */
export function objectAt(objects, point) {
  let best = null;
  let bestArea = Infinity;
  for (const o of objects) {
    if (!o.box) continue;
    const [x1, y1, x2, y2] = o.box;
    if (point.x < x1 || point.x > x2 || point.y < y1 || point.y > y2) continue;
    const area = (x2 - x1) * (y2 - y1);
    if (area < bestArea) {
      best = o;
      bestArea = area;
    }
  }
  return best;
}

/** The little bubble that answers a tap on the picture (#tap-note). */
export class TapNote {
  /**
   * @param {HTMLElement} element
   * @param {{t: (key: string) => string, objects: () => {box: number[] | null, say: string, label: string}[]}} hooks
   */
  constructor(element, hooks) {
    this.element = element;
    this.hooks = hooks;
    this.timers = [0, 0];
  }

  /**
   * A tap at a normalised point, at client coordinates `at`.
   * @param {{x: number, y: number}} point
   * @param {{x: number, y: number}} at
   */
  tapped(point, at) {
    this.clear();
    this.show(this.hooks.t("looking"), at, "looking");
    this.timers[0] = setTimeout(() => {
      const object = objectAt(this.hooks.objects(), point);
      const name = object ? object.say || object.label : "";
      this.show(name || this.hooks.t("nothing_yet"), at, name ? "found" : "nothing");
      this.timers[1] = setTimeout(() => this.clear(), TAP_ANSWER_MS);
    }, TAP_WAIT_MS);
  }

  clear() {
    this.timers.forEach((timer) => clearTimeout(timer));
    this.element.hidden = true;
  }

  /** @private */
  show(text, at, kind) {
    const el = this.element;
    el.textContent = text;
    el.dataset.kind = kind;
    el.hidden = false;
    const width = el.offsetWidth;
    const height = el.offsetHeight;
    const margin = 8;
    const left = Math.min(Math.max(margin, at.x - width / 2), window.innerWidth - width - margin);
    const top = Math.max(margin, at.y - height - 28);
    el.style.left = `${left}px`;
    el.style.top = `${top}px`;
  }
}
