/**
 * The demo badge, on every page: while the server runs on random weights (GET /api/status
 * answers "demo": true) a yellow strip at the top says the names are made up, so nobody takes
 * them for what the camera sees. body[data-demo] is "true" or "false" once the server said;
 * --demo-h (on <html>) is the strip's height, so full-screen pages start the video below it.
 *
 * It never shows an error: an answer that cannot be read (server restarting, models loading
 * without saying what they are) is asked again later, quietly.
 */

export const DEMO_TEXT = "🧪 Demo: the models are not loaded, names are made up";
const FIRST_RETRY_MS = 2000;
const MAX_RETRY_MS = 30000;

/** @returns {Promise<boolean | null>} the server's answer, null when there is none yet */
async function askServer() {
  try {
    const response = await fetch("/api/status", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) return null;
    const status = await response.json();
    return typeof status.demo === "boolean" ? status.demo : null;
  } catch {
    return null;
  }
}

/** @param {boolean} demo */
function render(demo) {
  const body = document.body;
  let badge = document.getElementById("demo-badge");
  body.dataset.demo = String(demo);
  if (!demo) {
    badge?.remove();
    document.documentElement.style.removeProperty("--demo-h");
    return;
  }
  if (badge) return;
  badge = document.createElement("p");
  badge.id = "demo-badge";
  badge.className = "demo-badge";
  badge.setAttribute("role", "status");
  badge.textContent = DEMO_TEXT;
  body.prepend(badge);
  const measure = () =>
    document.documentElement.style.setProperty("--demo-h", `${badge.offsetHeight}px`);
  measure();
  // the text wraps differently when a phone turns or a window is resized
  if ("ResizeObserver" in window) new ResizeObserver(measure).observe(badge);
}

/**
 * Ask the server whether it runs on random weights and show or hide the badge; asks again,
 * more slowly each time, until it knows.
 * @returns {Promise<boolean>}
 */
export async function showDemoBadge() {
  let wait = FIRST_RETRY_MS;
  for (;;) {
    const demo = await askServer();
    if (demo !== null) {
      render(demo);
      return demo;
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, MAX_RETRY_MS);
  }
}
