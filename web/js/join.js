/**
 * The phone's "In a class? Type the code" form: a code that looks right by the server's rules
 * (js/choices.js) opens the phone page in that room (/?room=CODE); anything else is explained.
 */

import { limit, looksLikeCode } from "./choices.js";
import { english } from "./english.js";

/**
 * @param {{form: HTMLFormElement, input: HTMLInputElement, error: HTMLElement,
 *          limits: () => Record<string, any>,
 *          t?: (key: string, values?: Record<string, string | number>) => string}} parts
 *          `limits`: the server's, {} while unknown; `t`: the page's words (English without)
 */
export function bindCodeForm({ form, input, error, limits, t = english }) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const code = input.value.trim().toUpperCase().replace(/[\s-]/g, "");
    if (!looksLikeCode(code, limits())) {
      const length = limit(limits(), "code_length");
      error.textContent = `✏️ ${length ? t("code_error", { count: length }) : t("code_error_any")}`;
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
