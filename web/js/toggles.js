/**
 * On/off toggle buttons (speech, pause, show all, stats): a fixed aria-label with aria-pressed
 * for the state (what screen readers expect), and an icon, a short word and a tooltip per side.
 * A button with an `.icon` and a `.word` child keeps them: the icon (decoration, an emoji that
 * may show as a box without an emoji font) and the word (what the child reads) change there.
 */

/**
 * @typedef {object} ToggleSide
 * @property {string} text the icon (an emoji)
 * @property {string} [word] the short word next to it ("Pause")
 * @property {string} label its tooltip
 */

/**
 * Make `button` a toggle.
 * @param {HTMLButtonElement} button
 * @param {{label: string | (() => string), initial: boolean, on: ToggleSide | (() => ToggleSide),
 *          off: ToggleSide | (() => ToggleSide), onChange?: (value: boolean) => void}} options
 *          (functions: words that follow the child's language; call render() after a change)
 * @returns {{readonly value: boolean, set: (value: boolean) => void, render: () => void}}
 *          set() updates without calling onChange
 */
export function bindToggle(button, options) {
  let value = Boolean(options.initial);
  const read = (x) => (typeof x === "function" ? x() : x);
  const icon = button.querySelector(".icon");
  const word = button.querySelector(".word");
  const render = () => {
    const side = read(value ? options.on : options.off);
    if (icon && word) {
      icon.textContent = side.text;
      word.textContent = side.word ?? side.label;
    } else {
      button.textContent = side.text;
    }
    button.setAttribute("aria-label", read(options.label));
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
    render,
  };
}
