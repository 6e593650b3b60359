/**
 * Settings remembered in localStorage, safely: private modes and disabled storage throw, and
 * stored text may be corrupt; both fall back to the default.
 */

const PREFIX = "visionanything.";

/**
 * Read a remembered setting.
 * @template T
 * @param {string} key
 * @param {T} fallback returned when nothing (valid) is stored
 * @returns {T}
 */
export function loadSetting(key, fallback) {
  try {
    const text = globalThis.localStorage?.getItem(PREFIX + key);
    if (text == null) return fallback;
    const value = JSON.parse(text);
    return typeof value === typeof fallback ? value : fallback;
  } catch {
    return fallback;
  }
}

/**
 * Remember a setting; returns false when storage is unavailable (the setting then lasts for this page only).
 * @param {string} key
 * @param {unknown} value JSON-serialisable
 * @returns {boolean}
 */
export function saveSetting(key, value) {
  try {
    globalThis.localStorage?.setItem(PREFIX + key, JSON.stringify(value));
    return true;
  } catch {
    return false;
  }
}
