/**
 * The page's states and the friendly words and icon shown for each.
 * Pure: no DOM, importable from Node for tests.
 *
 *   idle --Start--> connecting --channel open--> live
 *   connecting/live --peer or channel down, camera lost, stall--> reconnecting --backoff--> (attempt) --> live
 *   connecting --HTTP 503/429--> server-busy (server-starting while its models load)
 *     --Retry-After countdown--> connecting
 *   connecting --camera NotAllowedError--> camera-blocked --Try again--> connecting
 *   connecting --no camera / insecure page / HTTP 4xx--> error --Try again--> connecting
 *   any --pagehide--> idle
 */

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

const ERRORS = {
  "no-camera": {
    icon: "📷",
    title: "No camera found",
    help: "We could not find a camera. Try a phone or tablet with a camera, then tap Try again.",
  },
  insecure: {
    icon: "🔒",
    title: "Needs a secure link (HTTPS)",
    help:
      "Phones only share the camera with secure pages. Ask a grown-up to open this page's " +
      "https:// address (or use localhost on this computer).",
  },
  unsupported: {
    icon: "🧭",
    title: "This browser cannot do live video",
    help: "Please open this page in a recent Chrome, Safari, Firefox or Edge.",
  },
  "camera-busy": {
    icon: "📷",
    title: "The camera is busy",
    help: "Another app may be using the camera. Close it, then tap Try again.",
  },
  "camera-error": {
    icon: "📷",
    title: "The camera did not start",
    help: "Tap Try again. If it keeps happening, restart the browser.",
  },
  // a class room's answers: the teacher decides these, so "Try again" rarely helps
  removed: {
    icon: "👋",
    title: "You left the class",
    help: "Your teacher took this phone out of the class.",
    button: null,
  },
  "class-ended": {
    icon: "🏁",
    title: "The class has ended",
    help: "Thank you for looking! Ask your teacher for a new code to join again.",
    button: null,
  },
  locked: {
    icon: "🔒",
    title: "This class is closed",
    help: "No new phones can join now. Ask your teacher, then tap Try again.",
  },
  "no-room": {
    icon: "🔍",
    title: "No class with this code",
    help: "Check the code with your teacher and type it below.",
    button: null,
  },
  // no ICE candidate and the TURN relay refused us or was unreachable (peer.js
  // RelayUnreachableError); the teacher's line depends on detail.turn (see describeState)
  network: {
    icon: "📶",
    title: "I can't reach the server from this network",
    help: "Ask your teacher.",
  },
  server: {
    icon: "😕",
    title: "The server said no",
    help: "Tap Try again, or ask a grown-up to check the link.",
  },
};

/** The "network" error's line for the teacher, by what the TURN server did (detail.turn). */
const NETWORK_TEACHER_HELP = {
  refused: "For the teacher: the relay (TURN) refused our login: check the TURN secret.",
  unreachable:
    "For the teacher: the relay (TURN) could not be reached: check its address and that this " +
    "network lets its port through.",
};

/**
 * Words, icon and button for a state.
 * @param {string} state one of State
 * @param {{reason?: string, message?: string, retryIn?: number, attempt?: number, turn?: string}} [detail]
 * @returns {{icon: string, title: string, help: string, button: string | null, buttonLabel: string}}
 */
export function describeState(state, detail = {}) {
  const retry = Number.isFinite(detail.retryIn) && detail.retryIn > 0 ? Math.ceil(detail.retryIn) : 0;
  switch (state) {
    case State.IDLE:
      return {
        icon: "📷",
        title: "What is that?",
        help: "Tap Start, then point the camera at things around you.",
        button: "▶️ Start",
        buttonLabel: "Start the camera",
      };
    case State.CONNECTING:
      return {
        icon: "🔌",
        title: "Connecting...",
        help: "Getting the magic camera ready.",
        button: null,
        buttonLabel: "",
      };
    case State.LIVE:
      return { icon: "🟢", title: "Live", help: "Point at something!", button: null, buttonLabel: "" };
    case State.CAMERA_BLOCKED:
      return {
        icon: "🚫",
        title: "Camera blocked",
        help:
          "Ask a grown-up to allow the camera: tap the 🔒 or (i) next to the web address, " +
          "set Camera to Allow, then tap Try again.",
        button: "🔁 Try again",
        buttonLabel: "Try again",
      };
    case State.SERVER_STARTING:
      // no countdown here: the bar below says how far the server has got (js/ready.js), and
      // the page asks again as soon as the server says it is ready
      return {
        icon: "🌱",
        title: "Getting ready",
        help: "The camera helper is waking up...",
        button: null,
        buttonLabel: "",
      };
    case State.SERVER_BUSY:
      if (detail.reason === "rate_limited") {
        return {
          icon: "⏳",
          title: "Please wait a moment",
          help: retry ? `Trying again in ${retry} s...` : "Trying again...",
          button: null,
          buttonLabel: "",
        };
      }
      return {
        icon: "⏳",
        title: "Server busy",
        help: retry
          ? `Lots of friends are playing! Trying again in ${retry} s...`
          : "Lots of friends are playing! Trying again...",
        button: null,
        buttonLabel: "",
      };
    case State.RECONNECTING:
      return {
        icon: "🔄",
        title: "Reconnecting...",
        help: retry ? `Lost the connection. Trying again in ${retry} s...` : "Lost the connection. Trying again...",
        button: null,
        buttonLabel: "",
      };
    default: {
      const known = ERRORS[detail.reason || ""] || {
        icon: "😕",
        title: "Oops, something went wrong",
        help: "Tap Try again.",
      };
      const extra =
        detail.message && detail.reason === "server"
          ? ` (${detail.message})`
          : detail.reason === "network"
            ? ` ${NETWORK_TEACHER_HELP[detail.turn] || NETWORK_TEACHER_HELP.unreachable}`
            : "";
      const button = known.button === null ? null : "🔁 Try again";
      return { ...known, help: known.help + extra, button, buttonLabel: button ? "Try again" : "" };
    }
  }
}
