/**
 * Short messages (server `error`s, hints) that appear for a few seconds and go away.
 */

export class Toast {
  /** @param {HTMLElement} element a role="alert" element, hidden when idle */
  constructor(element) {
    this.element = element;
    this.timer = 0;
  }

  /**
   * Show a message, replacing the current one.
   * @param {string} text
   * @param {{ms?: number, kind?: "error" | "info"}} [options]
   */
  show(text, { ms = 3500, kind = "info" } = {}) {
    clearTimeout(this.timer);
    this.element.textContent = String(text).slice(0, 160);
    this.element.dataset.kind = kind;
    this.element.hidden = false;
    this.timer = setTimeout(() => this.hide(), ms);
  }

  /** Hide now. */
  hide() {
    clearTimeout(this.timer);
    this.element.hidden = true;
  }
}
