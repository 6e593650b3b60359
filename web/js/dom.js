/**
 * The one DOM helper every page uses: the element with `id`, which the page's markup must have
 * (a missing one is a clear error at start, not a TypeError later).
 */

/**
 * @param {string} id
 * @returns {any} the element
 */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`page markup is missing #${id}`);
  return element;
}
