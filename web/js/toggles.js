/**
 * On/off toggle buttons (speech, pause, stats): a fixed aria-label with aria-pressed for the
 * state (what screen readers expect), and an icon and tooltip per side.
 */

/**
 * @typedef {object} ToggleSide
 * @property {string} text what the button shows (an emoji)
 * @property {string} label its tooltip
 */

/**
 * Make `button` a toggle.
 * @param {HTMLButtonElement} button
 * @param {{label: string, initial: boolean, on: ToggleSide, off: ToggleSide, onChange?: (value: boolean) => void}} options
 * @returns {{readonly value: boolean, set: (value: boolean) => void}} set() updates without calling onChange
 */
export function bindToggle(button, options) {
  let value = Boolean(options.initial);
  const render = () => {
    const side = value ? options.on : options.off;
    button.textContent = side.text;
    button.setAttribute("aria-label", options.label);
    button.title = side.label;
    button.setAttribute("aria-pressed", String(value));
  };
  button.addEventListener("click", () => {
    value = !value;
    render();
    options.onChange?.(value);
  });
  render();
  return {
    get value() {
      return value;
    },
    set(next) {
      value = Boolean(next);
      render();
    },
  };
}
