/**
 * The page's states and the friendly words and icon shown for each.
 * Pure: no DOM, importable from Node for tests; the words come from the `t` it is given
 * (js/words.js), English (js/english.js) without one.
 *
 *   idle --Start--> connecting --channel open--> live
 *   connecting/live --peer or channel down, camera lost, stall--> reconnecting --backoff--> (attempt) --> live
 *   connecting --HTTP 503/429--> server-busy (server-starting while its models load)
 *     --Retry-After countdown--> connecting
 *   connecting --camera NotAllowedError--> camera-blocked --Try again--> connecting
 *   connecting --no camera / insecure page / HTTP 4xx--> error --Try again--> connecting
 *   any --pagehide--> idle
 */

import { english } from "./english.js";

/** State names, exactly as exposed in `window.vaDebug.state` and `body[data-state]`. */
export const State = Object.freeze({
  IDLE: "idle",
  CONNECTING: "connecting",
  LIVE: "live",
  CAMERA_BLOCKED: "camera-blocked",
  SERVER_BUSY: "server-busy",
  SERVER_STARTING: "server-starting",
  RECONNECTING: "reconnecting",
  ERROR: "error",
});

/** States from which the Start / Try again button starts a new attempt. */
export const STARTABLE = Object.freeze([State.IDLE, State.CAMERA_BLOCKED, State.ERROR]);

/**
 * Each error reason's icon and page words (js/english.js keys: `title`, and `title` + "_help");
 * `button: null`: no Try again.
 */
const ERRORS = {
  "no-camera": { icon: "📷", title: "no_camera" },
  insecure: { icon: "🔒", title: "insecure" },
  unsupported: { icon: "🧭", title: "unsupported" },
  "camera-busy": { icon: "📷", title: "camera_busy" },
  "camera-error": { icon: "📷", title: "camera_error" },
  // a class room's answers: the teacher decides these, so "Try again" rarely helps
  removed: { icon: "👋", title: "removed", button: null },
  "class-ended": { icon: "🏁", title: "class_ended", button: null },
  locked: { icon: "🔒", title: "locked" },
  "no-room": { icon: "🔍", title: "no_room", button: null },
  // no ICE candidate and the TURN relay refused us or was unreachable (peer.js
  // RelayUnreachableError); the teacher's line depends on detail.turn (see describeState)
  network: { icon: "📶", title: "network" },
  server: { icon: "😕", title: "server_no" },
};
const OOPS = { icon: "😕", title: "oops" };

/** The "network" error's line for the teacher, by what the TURN server did (detail.turn). */
const NETWORK_TEACHER_HELP = { refused: "turn_refused", unreachable: "turn_unreachable" };

/**
 * @callback Words a page word in the child's language (js/words.js PageWords.t)
 * @param {string} key
 * @param {Record<string, string | number>} [values]
 * @returns {string}
 */

/**
 * Words, icon and button for a state, in the child's language.
 * @param {string} state one of State
 * @param {{reason?: string, message?: string, retryIn?: number, attempt?: number, turn?: string}} [detail]
 * @param {Words} [t] the page's words (English when not given)
 * @returns {{icon: string, title: string, help: string, button: string | null, buttonLabel: string}}
 */
export function describeState(state, detail = {}, t = english) {
  const retry = Number.isFinite(detail.retryIn) && detail.retryIn > 0 ? Math.ceil(detail.retryIn) : 0;
  const again = retry ? t("retry_in", { seconds: retry }) : t("retrying");
  const quiet = { button: null, buttonLabel: "" };
  switch (state) {
    case State.IDLE:
      return {
        icon: "📷",
        title: t("idle_title"),
        help: t("idle_help"),
        button: `▶️ ${t("start")}`,
        buttonLabel: t("start_label"),
      };
    case State.CONNECTING:
      return { icon: "🔌", title: t("connecting"), help: t("connecting_help"), ...quiet };
    case State.LIVE:
      return { icon: "🟢", title: t("live"), help: t("live_help"), ...quiet };
    case State.CAMERA_BLOCKED:
      return {
        icon: "🚫",
        title: t("blocked"),
        help: t("blocked_help"),
        button: `🔁 ${t("try_again")}`,
        buttonLabel: t("try_again"),
      };
    case State.SERVER_STARTING:
      // no countdown here: the bar below says how far the server has got (js/ready.js), and
      // the page asks again as soon as the server says it is ready
      return { icon: "🌱", title: t("getting_ready"), help: t("waking_up"), ...quiet };
    case State.SERVER_BUSY:
      if (detail.reason === "rate_limited") {
        return { icon: "⏳", title: t("wait_moment"), help: again, ...quiet };
      }
      return { icon: "⏳", title: t("busy"), help: `${t("busy_help")} ${again}`, ...quiet };
    case State.RECONNECTING:
      return { icon: "🔄", title: t("reconnecting"), help: `${t("lost")} ${again}`, ...quiet };
    default: {
      const known = ERRORS[detail.reason || ""] || OOPS;
      const extra =
        detail.message && detail.reason === "server"
          ? ` (${detail.message})`
          : detail.reason === "network"
            ? ` ${t(NETWORK_TEACHER_HELP[detail.turn] || NETWORK_TEACHER_HELP.unreachable)}`
            : "";
      const button = known.button === null ? null : `🔁 ${t("try_again")}`;
      return {
        icon: known.icon,
        title: t(known.title),
        help: t(`${known.title}_help`) + extra,
        button,
        buttonLabel: button ? t("try_again") : "",
      };
    }
  }
}
