/**
 * "Getting ready… 2 of 4": how far the server has got loading its models, for the pages that
 * wait on it (the phone's getting-ready panel, the class screen, the teacher page).
 *
 * GET /api/status answers `loading` ({step, steps, doing} while the models load, null once
 * they are ready) and `building` (faster runtimes still built in the background). A page shows
 * a short line and a bar, never the step names (words like "importing" mean nothing to a
 * child) and never an error: an answer that cannot be read is asked again at the next tick.
 * Pure parts (`describeLoading`, `describeBuilding`) take no DOM, for tests and reuse. The phone
 * gives its words (`t`) for the child's language; the other pages show English.
 */

import { english } from "./english.js";

/** How often a waiting page asks. */
export const POLL_MS = 1000;

/**
 * The line and the bar for a `loading` value; null when there is nothing to show (ready).
 * Step k of n fills the bar to (k - 0.5) / n: it moves at every step and is never full
 * before the server is ready. Without a count (steps 0) the bar moves without a value.
 * @param {unknown} loading
 * @param {(key: string, values?: Record<string, string | number>) => string} [t] the page's
 *        words (`ready_line`, `ready_steps`; English when not given)
 * @returns {{text: string, value: number | null, max: number} | null}
 */
export function describeLoading(loading, t = english) {
  if (!loading || typeof loading !== "object") return null;
  const { step, steps } = /** @type {{step?: unknown, steps?: unknown}} */ (loading);
  if (!Number.isInteger(steps) || Number(steps) <= 0 || !Number.isInteger(step)) {
    return { text: t("ready_line"), value: null, max: 1 };
  }
  const n = Number(steps);
  const k = Math.min(Math.max(Number(step), 0), n);
  if (k === 0) return { text: t("ready_line"), value: 0, max: n };
  return { text: t("ready_steps", { step: k, steps: n }), value: k - 0.5, max: n };
}

/**
 * A line for the teacher about the background builds once the models answer ("" when none
 * run). It counts them: their names ("detector 683x512") are for operators, in the JSON.
 * @param {unknown} building
 * @returns {string}
 */
export function describeBuilding(building) {
  if (!Array.isArray(building) || building.length === 0) return "";
  const left = building.length === 1 ? "1 step left" : `${building.length} steps left`;
  return `⚙️ Ready, and still getting faster in the background (${left})`;
}

/**
 * A bar and its line inside `container` (made here if the markup has none):
 * <progress> for the bar (a native progress bar: screen readers read it) and a line of text.
 */
export class ReadyBar {
  /**
   * @param {HTMLElement} container
   * @param {(key: string, values?: Record<string, string | number>) => string} [t] the page's
   *        words (English when not given)
   */
  constructor(container, t = english) {
    this.container = container;
    this.t = t;
    this.bar = container.querySelector("progress") || container.appendChild(document.createElement("progress"));
    this.bar.setAttribute("aria-label", t("getting_ready"));
    this.line = container.querySelector(".ready-line") || container.appendChild(document.createElement("p"));
    this.line.classList.add("ready-line");
  }

  /**
   * Show `loading` (see describeLoading); hide when there is nothing to show.
   * @param {unknown} loading
   * @returns {boolean} whether it is shown
   */
  show(loading) {
    const view = describeLoading(loading, this.t);
    this.container.hidden = !view;
    if (!view) return false;
    this.bar.setAttribute("aria-label", this.t("getting_ready"));
    this.bar.max = view.max;
    if (view.value === null) this.bar.removeAttribute("value");
    else this.bar.value = view.value;
    this.line.textContent = view.text;
    return true;
  }

  hide() {
    this.container.hidden = true;
  }
}

/** @returns {Promise<any | null>} the server's status, null when it cannot be read */
export async function readStatus() {
  try {
    const response = await fetch("/api/status", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) return null;
    const status = await response.json();
    return status && typeof status === "object" ? status : null;
  } catch {
    return null;
  }
}

/**
 * Ask GET /api/status every `intervalMs` and hand each answer (null when unreadable) to
 * `onStatus`, until it returns false or `stop()` is called. One question at a time.
 */
export class StatusWatch {
  /**
   * @param {(status: any | null) => boolean | void} onStatus false: stop asking
   * @param {{intervalMs?: number, read?: () => Promise<any | null>}} [options]
   */
  constructor(onStatus, options = {}) {
    this.onStatus = onStatus;
    this.intervalMs = options.intervalMs ?? POLL_MS;
    this.read = options.read || readStatus;
    this.running = false;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.tick();
  }

  stop() {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  /** @private */
  async tick() {
    this.timer = null;
    const status = await this.read();
    if (!this.running) return;
    let goOn = true;
    try {
      goOn = this.onStatus(status) !== false;
    } catch (error) {
      console.error("[va] status handler failed", error);
    }
    if (!goOn) {
      this.running = false;
      return;
    }
    if (this.running) this.timer = setTimeout(() => this.tick(), this.intervalMs);
  }
}
