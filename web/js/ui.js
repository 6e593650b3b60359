/**
 * The status panel: big icon, status text (#status), help line and the Start / Try again
 * button (#start), drawn from the state machine's state. body[data-state] carries the state
 * for CSS (in "live" the panel shrinks to a small pill at the top).
 */

import { describeState } from "./states.js";

export class StatusView {
  /**
   * @param {{body: HTMLElement, icon: HTMLElement, status: HTMLElement, help: HTMLElement,
   *          start: HTMLButtonElement}} elements
   */
  constructor(elements) {
    this.el = elements;
    this.lastKey = "";
  }

  /**
   * Show a state.
   * @param {string} state
   * @param {object} [detail] reason, message, retryIn
   */
  render(state, detail = {}) {
    const view = describeState(state, detail);
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
