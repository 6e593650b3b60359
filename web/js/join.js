/**
 * The phone's "In a class? Type the code" form: a code that looks right by the server's rules
 * (js/choices.js) opens the phone page in that room (/?room=CODE); anything else is explained.
 */

import { limit, looksLikeCode } from "./choices.js";

/**
 * @param {{form: HTMLFormElement, input: HTMLInputElement, error: HTMLElement,
 *          limits: () => Record<string, any>}} parts `limits`: the server's, {} while unknown
 */
export function bindCodeForm({ form, input, error, limits }) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const code = input.value.trim().toUpperCase().replace(/[\s-]/g, "");
    if (!looksLikeCode(code, limits())) {
      const length = limit(limits(), "code_length");
      error.textContent = `✏️ A class code has ${length ? `${length} ` : ""}letters and numbers, like ABC234`;
      return;
    }
    const url = new URL("/", location.href);
    url.searchParams.set("room", code);
    location.href = url.href;
  });
  input.addEventListener("input", () => {
    error.textContent = "";
  });
}
