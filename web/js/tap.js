/**
 * Tap-to-select on the returned video: a click or touch on the picture becomes a `tap` at
 * normalised video coordinates (letterbox bars from object-fit are excluded), with a ripple
 * where the finger landed.
 */

import { parseObjectPosition, toVideoPoint } from "./geometry.js";

/**
 * Normalised video point under a client point on a video element, or null (letterbox, no video yet).
 * @param {HTMLVideoElement} video
 * @param {number} clientX
 * @param {number} clientY
 * @returns {{x: number, y: number} | null}
 */
export function videoPointAt(video, clientX, clientY) {
  const style = getComputedStyle(video);
  return toVideoPoint(
    clientX,
    clientY,
    video.getBoundingClientRect(),
    video.videoWidth,
    video.videoHeight,
    style.objectFit || "contain",
    parseObjectPosition(style.objectPosition),
  );
}

/**
 * Listen for taps on the video.
 * @param {HTMLVideoElement} video
 * @param {(point: {x: number, y: number}, at: {x: number, y: number}) => boolean} onTap the
 *        normalised video point and the client point; returns whether the tap was sent
 * @returns {() => void} removes the listener
 */
export function attachTap(video, onTap) {
  const handler = (event) => {
    const point = videoPointAt(video, event.clientX, event.clientY);
    if (!point) return;
    if (onTap(point, { x: event.clientX, y: event.clientY })) ripple(video, event.clientX, event.clientY);
  };
  video.addEventListener("click", handler);
  return () => video.removeEventListener("click", handler);
}

/**
 * A short expanding ring at a client point.
 * @param {HTMLElement} near an element in the same stacking context
 * @param {number} clientX
 * @param {number} clientY
 */
function ripple(near, clientX, clientY) {
  const ring = document.createElement("div");
  ring.className = "ripple";
  ring.setAttribute("aria-hidden", "true");
  ring.style.left = `${clientX}px`;
  ring.style.top = `${clientY}px`;
  (near.parentElement || document.body).append(ring);
  const remove = () => ring.remove();
  ring.addEventListener("animationend", remove, { once: true });
  setTimeout(remove, 1000);
}
