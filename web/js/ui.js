/**
 * The status panel: big icon, status text (#status), help line and the Start / Try again
 * button (#start), drawn from the state machine's state. body[data-state] carries the state
 * for CSS (in "live" the panel shrinks to a small pill at the top). The words follow the child's
 * language: `refresh()` draws the state shown again after a change.
 */

import { describeState } from "./states.js";

export class StatusView {
  /**
   * @param {{body: HTMLElement, icon: HTMLElement, status: HTMLElement, help: HTMLElement,
   *          start: HTMLButtonElement}} elements
   * @param {import("./states.js").Words} [t] the page's words (English when not given)
   */
  constructor(elements, t) {
    this.el = elements;
    this.t = t;
    this.lastKey = "";
    /** The state shown and its detail, drawn again in new words by `refresh`. */
    this.state = "";
    this.detail = {};
  }

  /** The child's language changed: the state shown, in its new words. */
  refresh() {
    if (this.state) this.render(this.state, this.detail);
  }

  /**
   * Show a state.
   * @param {string} state
   * @param {object} [detail] reason, message, retryIn
   */
  render(state, detail = {}) {
    this.state = state;
    this.detail = detail;
    const view = describeState(state, detail, this.t);
    const key = JSON.stringify([state, view]);
    if (key === this.lastKey) return;
    this.lastKey = key;
    const { body, icon, status, help, start } = this.el;
    body.dataset.state = state;
    icon.textContent = view.icon;
    status.textContent = view.title;
    help.textContent = view.help;
    help.hidden = !view.help;
    start.hidden = !view.button;
    if (view.button) {
      start.textContent = view.button;
      start.setAttribute("aria-label", view.buttonLabel);
    }
  }
}
