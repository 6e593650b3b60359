/**
 * The photo page (/photo): pick or take a photo, choose a theme or type words, send it to
 * `POST /api/segment`, show the overlay, say the name of the thing under a tap, offer the PNGs.
 *
 * The tapped thing is read from the label image (masks.png: object i is painted as i + 1, the
 * smaller object wins where masks overlap); where that cannot be read, the smallest box that
 * holds the point is used. `window.vaPhoto` exposes the state for tests and debugging.
 */

import { showDemoBadge } from "/js/demo.js";
import { limitLength, loadChoices } from "/js/choices.js";
import { normaliseThemes, themeLabel } from "/js/vocabulary.js";
import { Speaker } from "/js/speech.js";
import { byId as $ } from "../js/dom.js";


const speaker = new Speaker({ onRecord: (record) => debug.spoken.push(record) });
const debug = {
  /** @type {any} the last answer of /api/segment */
  result: null,
  /** @type {import("/js/speech.js").SpeechRecord[]} */
  spoken: [],
  /** @type {string[]} */
  errors: [],
  /** @type {number[] | null} label per pixel of the processed image, or null */
  labels: null,
  tap,
};
/** @type {any} */ (window).vaPhoto = debug;
showDemoBadge();

// the server's themes after "my own words…" (until they come, words only), its words limit
loadChoices((choices) => {
  for (const theme of normaliseThemes(choices.themes)) $("theme").add(new Option(themeLabel(theme), theme.name));
  limitLength($("words"), choices.limits, "max_words_chars");
});
$("theme").addEventListener("change", () => {
  $("words").hidden = Boolean($("theme").value);
});

$("image").addEventListener("change", () => {
  const file = $("image").files?.[0];
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  if (!file) {
    preview.hidden = true;
    return;
  }
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
});

$("photo-form").addEventListener("submit", (event) => {
  event.preventDefault();
  speaker.unlock();
  send().catch((error) => showError(String(error?.message || error)));
});

$("overlay").addEventListener("click", (event) => {
  const image = /** @type {HTMLImageElement} */ (event.currentTarget);
  const rect = image.getBoundingClientRect();
  if (!debug.result || !rect.width || !rect.height) return;
  const { width, height } = debug.result.image;
  tap(((event.clientX - rect.left) / rect.width) * width, ((event.clientY - rect.top) / rect.height) * height);
});

/**
 * Say the name of the object at (x, y) in processed-image pixels; returns it (or null).
 * @param {number} x
 * @param {number} y
 */
function tap(x, y) {
  const found = objectAt(x, y);
  if (found) speaker.speak(found.say || found.label, [found.id]);
  else setStatus("Nothing found there. Tap a coloured shape.");
  return found;
}

/** @param {number} x @param {number} y */
function objectAt(x, y) {
  const result = debug.result;
  if (!result) return null;
  const { width, height } = result.image;
  const px = Math.floor(x);
  const py = Math.floor(y);
  if (px < 0 || py < 0 || px >= width || py >= height) return null;
  if (debug.labels) {
    const value = debug.labels[py * width + px];
    return result.objects.find((o) => o.mask_value === value) || null;
  }
  let best = null;
  let bestArea = Infinity;
  for (const o of result.objects) {
    const [x1, y1, x2, y2] = o.box;
    const area = (x2 - x1) * (y2 - y1);
    if (x >= x1 && x <= x2 && y >= y1 && y <= y2 && area < bestArea) {
      best = o;
      bestArea = area;
    }
  }
  return best;
}

async function send() {
  const file = $("image").files?.[0];
  if (!file) {
    showError("Choose a photo first.");
    return;
  }
  const form = new FormData();
  form.append("image", file, file.name || "photo");
  const theme = $("theme").value;
  if (theme) form.append("theme", theme);
  else form.append("words", $("words").value);
  $("send").disabled = true;
  setStatus("Looking…");
  try {
    const response = await fetch("/api/segment", { method: "POST", body: form });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const wait = response.headers.get("Retry-After");
      const message = body.error || `the server answered ${response.status}`;
      showError(wait ? `${message} (try again in ${wait} s)` : message);
      return;
    }
    await show(body);
  } finally {
    $("send").disabled = false;
  }
}

/** @param {any} result */
async function show(result) {
  debug.result = result;
  debug.labels = null;
  $("say").textContent = result.say || "I did not find any of those.";
  setStatus(result.objects.length ? "Tap a shape to hear its name." : "");
  const overlay = $("overlay");
  overlay.src = result.overlay_url;
  $("download-overlay").href = result.overlay_url;
  $("download-masks").href = result.masks_url;
  const list = $("objects");
  list.replaceChildren();
  for (const o of result.objects) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = o.label;
    button.style.setProperty("--chip", o.colour);
    button.addEventListener("click", () => speaker.speak(o.say || o.label, [o.id]));
    item.append(button);
    list.append(item);
  }
  $("result").hidden = false;
  if (result.say) speaker.speak(result.say, result.objects.map((o) => o.id));
  // masks.png is 16-bit from 256 objects on: a canvas reads only 8 bits, so use the boxes then
  if (result.objects.length < 256) {
    debug.labels = await readLabels(result.masks_url, result.image.width, result.image.height);
  }
}

/**
 * The label image as one value per pixel (red channel of a grey PNG), or null.
 * @param {string} url @param {number} width @param {number} height
 */
async function readLabels(url, width, height) {
  try {
    const image = new Image();
    image.src = url;
    await image.decode();
    if (image.naturalWidth !== width || image.naturalHeight !== height) return null;
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d", { willReadFrequently: true, colorSpace: "srgb" });
    if (!context) return null;
    context.drawImage(image, 0, 0);
    const rgba = context.getImageData(0, 0, width, height).data;
    const labels = new Array(width * height);
    for (let i = 0; i < labels.length; i += 1) labels[i] = rgba[i * 4];
    return labels;
  } catch (error) {
    debug.errors.push(String(error));
    return null; // boxes instead
  }
}

/** @param {string} text */
function setStatus(text) {
  $("status").textContent = text;
  $("status").classList.remove("error");
}

/** @param {string} text */
function showError(text) {
  debug.errors.push(text);
  $("status").textContent = text;
  $("status").classList.add("error");
}
