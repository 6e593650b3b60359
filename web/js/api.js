/**
 * JSON calls to this server's teacher API (rooms, library, admin): same-origin cookies, never
 * cached, a JSON body when one is given. A failed call throws an Error carrying the server's
 * `error` text and the HTTP `status`.
 * @param {string} method @param {string} url @param {unknown} [body]
 * @returns {Promise<any>} the answer's JSON (null when it has none)
 */
export async function api(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((data && data.error) || `HTTP ${response.status}`);
    /** @type {any} */ (error).status = response.status;
    throw error;
  }
  return data;
}
