/**
 * VisionAnything Live, the phone page: wires the shared modules under web/js/ together.
 *
 * Start (or ?autostart=1) opens the rear camera and connects to the server over WebRTC; the
 * annotated video comes back full screen; `objects` become label chips, `say` is spoken,
 * `stats` feed the lighting indicator and the stats line, `error` shows a toast. The only
 * global is window.vaDebug (see js/debug.js).
 */

import { ChipBoard } from "../js/chips.js";
import { byId } from "../js/dom.js";
import { Controller } from "../js/controller.js";
import { createDebug, pushCapped } from "../js/debug.js";
import { showDemoBadge } from "../js/demo.js";
import { ReadyBar, StatusWatch } from "../js/ready.js";
import { renderLighting } from "../js/lighting.js";
import { Speaker } from "../js/speech.js";
import { State } from "../js/states.js";
import { formatStats } from "../js/stats.js";
import { loadSetting, saveSetting } from "../js/storage.js";
import { savePictureOnPhone } from "../js/snapshot.js";
import { attachTap } from "../js/tap.js";
import { Toast } from "../js/toast.js";
import { bindToggle } from "../js/toggles.js";
import { StatusView } from "../js/ui.js";
import { THEME_ICONS, VocabularyPicker, vocabularyMessage } from "../js/vocabulary.js";


const query = new URLSearchParams(location.search);
/** What the offer carries; `room` follows the room when the teacher gives it a new code. */
const offerParams = {
  room: (query.get("room") || "").trim().toUpperCase() || undefined,
  role: query.get("role") || undefined,
  /** @type {string | undefined} */
  name: undefined,
  /** @type {string | undefined} the last `hello`'s resume token */
  resume: undefined,
};
/** Whether this page has been in its room (a 404 later means the class has ended). */
let joinedRoom = false;
const remote = /** @type {HTMLVideoElement} */ (byId("remote"));
const toast = new Toast(byId("toast"));
const lighting = byId("lighting");
const statsLine = byId("stats");

const chipBoard = new ChipBoard(byId("chips"), {
  onPick: (chip) => {
    if (!chip.box) return;
    const [x1, y1, x2, y2] = chip.box;
    sendTap({ x: (x1 + x2) / 2, y: (y1 + y2) / 2 });
  },
});

const debug = createDebug(() => chipBoard.labels());
window.vaDebug = debug;

const statusView = new StatusView({
  body: document.body,
  icon: byId("status-icon"),
  status: byId("status"),
  help: byId("help"),
  start: byId("start"),
});

const speaker = new Speaker({
  enabled: loadSetting("speech", true),
  lang: document.documentElement.lang || "en",
  onRecord: (record) => pushCapped(debug.spoken, record),
});

/**
 * Send a message to the server when connected; record what was sent.
 * @param {object} message
 * @returns {boolean} whether it went out
 */
function send(message) {
  const ok = controller.send(message);
  if (ok) pushCapped(debug.sent, message);
  return ok;
}

/**
 * Select what is at a normalised video point.
 * @param {{x: number, y: number}} point
 * @returns {boolean} whether the tap was sent
 */
function sendTap(point) {
  if (controller.state !== State.LIVE) return false;
  const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
  return send({ type: "tap", x: round(point.x), y: round(point.y) });
}

// ---- controls -------------------------------------------------------------------------------

const speechToggle = bindToggle(byId("speech"), {
  label: "Say the names out loud",
  initial: speaker.enabled,
  on: { text: "🔊", label: "Speaking: on" },
  off: { text: "🔇", label: "Speaking: off" },
  onChange: (on) => {
    speaker.setEnabled(on);
    if (on) speaker.unlock();
    saveSetting("speech", on);
    send({ type: "speech", on });
    toast.show(on ? "🔊 I will say what I see" : "🔇 Quiet now");
  },
});

const pauseToggle = bindToggle(byId("pause"), {
  label: "Pause",
  initial: false,
  on: { text: "▶️", label: "Paused: tap to go on" },
  off: { text: "⏸️", label: "Pause" },
  onChange: (paused) => applyPause(paused, true),
});

/**
 * Pause or resume the overlay and speech.
 * @param {boolean} paused
 * @param {boolean} tell send `mode` to the server
 */
function applyPause(paused, tell) {
  speaker.setPaused(paused);
  chipBoard.setFrozen(paused);
  document.body.dataset.paused = String(paused);
  if (tell) send({ type: "mode", mode: liveMode(paused) });
}

// ✨: outline everything in the picture, named where the words match ("something" elsewhere)
const everythingToggle = bindToggle(byId("everything"), {
  label: "Show me everything",
  initial: false,
  on: { text: "✨", label: "Showing everything: tap to find the words" },
  off: { text: "✨", label: "Show me everything" },
  onChange: () => send({ type: "mode", mode: liveMode(pauseToggle.value) }),
});

/** @param {boolean} paused @returns {"pause" | "everything" | "live"} the `mode` to send */
function liveMode(paused) {
  if (paused) return "pause";
  return everythingToggle.value ? "everything" : "live";
}

// 📸: in a class room the server saves the picture as it is now (with its labels) to the
// teacher's library; anywhere else it is saved on this phone (a download) and the server keeps
// nothing (js/snapshot.js)
const inRoom = Boolean(offerParams.room);
document.body.classList.toggle("in-room", inRoom);
byId("snapshot").setAttribute("aria-label", inRoom ? "Take a photo for the class library" : "Save a photo on this phone");
byId("snapshot").addEventListener("click", async () => {
  if (controller.state !== State.LIVE) {
    toast.show("📷 Start the camera first");
    return;
  }
  if (inRoom) {
    if (send({ type: "snapshot" })) toast.show("📸 Saving the photo…");
    return;
  }
  if (await savePictureOnPhone(remote)) toast.show("📸 Saved on this phone");
  else toast.show("📷 No picture yet: try again");
});

const statsToggle = bindToggle(byId("stats-toggle"), {
  label: "Show numbers",
  initial: loadSetting("stats", false),
  on: { text: "📊", label: "Numbers: on" },
  off: { text: "📊", label: "Numbers: off" },
  onChange: (on) => {
    saveSetting("stats", on);
    statsLine.hidden = !on;
  },
});
statsLine.hidden = !statsToggle.value;

const picker = new VocabularyPicker({
  select: byId("theme"),
  form: byId("find-form"),
  input: byId("find"),
  onChoose: (selection, description) => {
    const message = vocabularyMessage(selection);
    if (!message) return;
    if (send(message)) toast.show(`👀 Looking for ${description}`);
    else toast.show(`👀 I will look for ${description} when we are connected`);
  },
  onEmpty: () => toast.show("✏️ Type what to find, like: cat, cup"),
});

// ---- server messages ------------------------------------------------------------------------

/**
 * Handle one data-channel message.
 * @param {string} text
 */
function onMessage(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch (error) {
    console.warn("[va] ignoring a message that is not JSON", error);
    return;
  }
  if (!message || typeof message !== "object" || typeof message.type !== "string") {
    console.warn("[va] ignoring a message without a type", message);
    return;
  }
  pushCapped(debug.events, message);
  if (message.v !== 1) console.warn("[va] message of protocol version", message.v, "(expected 1)");
  switch (message.type) {
    case "hello":
      if (typeof message.session === "string") debug.session = message.session;
      // after a broken connection the next offer carries it: same room place, same screen
      offerParams.resume = typeof message.resume === "string" ? message.resume : undefined;
      if (Array.isArray(message.themes)) picker.setThemes(message.themes);
      if (message.vocabulary != null) picker.setDefaultWords(message.vocabulary);
      break;
    case "objects":
      chipBoard.update(message.objects);
      break;
    case "say": {
      const ids = Array.isArray(message.ids) ? message.ids : message.id != null ? [message.id] : [];
      speaker.speak(message.text, ids);
      chipBoard.highlight(ids);
      break;
    }
    case "stats":
      renderLighting(lighting, message.lighting && message.lighting.state);
      statsLine.textContent = formatStats(message, debug.path);
      refreshPath(message);
      break;
    case "room":
      renderRoom(message);
      break;
    case "snapshot_saved":
      toast.show("📸 Photo saved for your teacher");
      break;
    case "error":
      toast.show(`⚠️ ${String(message.message || message.code || "error")}`, { kind: "error" });
      break;
    default:
      break;
  }
}

const ROOM_STATES = {
  waiting: "⏳ Waiting for your teacher",
  admitted: "✅ You are in the class",
  presenting: "📺 On the class screen!",
};

/**
 * A phone in a classroom room: its name and what the teacher decided (waiting, let in, on the
 * class screen), the room's words (read-only here: the teacher sets them); removed or ended:
 * stop and say so.
 * @param {{code?: string, presenting?: string | null, ended?: boolean, removed?: boolean,
 *          words?: string | null, theme?: string | null, speech_muted?: boolean,
 *          you?: {name?: string, state?: string}}} room
 */
function renderRoom(room) {
  const badge = byId("room");
  if (room.removed) {
    badge.hidden = true;
    controller.finish("removed");
    return;
  }
  if (room.ended) {
    badge.hidden = true;
    controller.finish("class-ended");
    return;
  }
  joinedRoom = true;
  if (room.code && room.code !== offerParams.room) {
    // the teacher gave the room a new code: a reconnect uses it, and so does a reload
    offerParams.room = room.code;
    const url = new URL(location.href);
    url.searchParams.set("room", room.code);
    history.replaceState(history.state, "", url);
  }
  const you = room.you || {};
  const onScreen = you.state === "presenting" || (Boolean(room.presenting) && room.presenting === debug.session);
  const state = onScreen ? "presenting" : you.state || "waiting";
  badge.hidden = false;
  badge.dataset.presenting = String(onScreen);
  badge.dataset.state = state;
  const name = you.name ? `🙂 ${you.name} · ` : "";
  badge.textContent = `${name}${ROOM_STATES[state] || ROOM_STATES.waiting}`;
  const words = byId("room-words");
  const what = room.theme ? `${THEME_ICONS[room.theme] || "🔤"} ${room.theme}` : room.words ? `🔤 ${room.words}` : "";
  words.textContent = `${what ? `Looking for: ${what}` : ""}${room.speech_muted ? `${what ? " · " : ""}🔇 Quiet class` : ""}`;
  words.hidden = !words.textContent;
}

// ---- joining a class: a name (optional) and a typed code ----------------------------------

const nameInput = byId("phone-name");
nameInput.value = loadSetting("name", "");
const codeInput = byId("room-code");
if (inRoom) byId("room-code-label").textContent = "🏫 Another class? Type its code";
const CODE_LETTERS = /^[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{6}$/;
byId("code-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const code = codeInput.value.trim().toUpperCase().replace(/[\s-]/g, "");
  if (!CODE_LETTERS.test(code)) {
    byId("code-error").textContent = "✏️ A class code has 6 letters and numbers, like ABC234";
    return;
  }
  const url = new URL("/", location.href);
  url.searchParams.set("room", code);
  location.href = url.href;
});
codeInput.addEventListener("input", () => {
  byId("code-error").textContent = "";
});

/** Show the name box before joining a room, and the code box where a code is wanted. */
function showJoinBoxes(state, detail) {
  const reason = (detail && detail.reason) || "";
  const settled = state === State.IDLE || state === State.ERROR || state === State.CAMERA_BLOCKED;
  const finished = ["removed", "class-ended", "no-room"].includes(reason);
  byId("name-box").hidden = !(inRoom && settled && !finished);
  byId("code-form").hidden = !((!inRoom && state === State.IDLE) || (state === State.ERROR && finished));
}

/** The channel opened: tell the server this page's settings. */
function onOpen() {
  send({ type: "speech", on: speechToggle.value });
  // in a classroom room the teacher's words apply: this page's saved words are not sent
  const vocabulary = inRoom ? null : picker.message();
  if (vocabulary) send(vocabulary);
  if (pauseToggle.value || everythingToggle.value) send({ type: "mode", mode: liveMode(pauseToggle.value) });
}

// ---- video ----------------------------------------------------------------------------------

let needsPlay = false;

/**
 * Show the annotated stream from the server.
 * @param {MediaStream | null} stream
 */
function showRemote(stream) {
  debug.remote = stream;
  if (remote.srcObject !== stream) remote.srcObject = stream;
  if (!stream) return;
  playRemote();
}

function playRemote() {
  const playing = remote.play();
  if (!playing) return;
  playing.then(
    () => {
      needsPlay = false;
    },
    (error) => {
      if (error && error.name === "AbortError") return; // replaced by a newer stream
      console.warn("[va] video play() refused", error);
      needsPlay = true;
      toast.show("👆 Tap the screen to show the picture");
    },
  );
}

attachTap(remote, sendTap);

// ---- getting ready ----------------------------------------------------------------------------

// While the server loads its models ("Getting ready"), a bar says how far it has got; once it
// says it is ready the page asks again at once instead of finishing the countdown.
const readyBar = new ReadyBar(byId("ready"));
const readyWatch = new StatusWatch((status) => {
  if (controller.state !== State.SERVER_STARTING && controller.state !== State.CONNECTING) return false;
  if (!status) return true; // unreadable: ask again at the next tick, say nothing
  debug.loading = status.loading ?? null;
  if (status.ready === true) {
    readyBar.hide();
    controller.retryNow(); // a no-op while already connecting
    return false;
  }
  readyBar.show(status.loading);
  return true;
});

/** @param {string} state */
function followGettingReady(state) {
  if (state === State.SERVER_STARTING) {
    readyWatch.start();
    return;
  }
  // asking the server again between two "getting ready" answers: the bar stays, no flicker
  if (state === State.CONNECTING && readyWatch.running) return;
  readyWatch.stop();
  readyBar.hide();
}

// ---- state machine --------------------------------------------------------------------------

/**
 * The route this page sees (relay/direct, protocol) into vaDebug.path and the stats line.
 * @param {Record<string, any>} stats the `stats` message just shown
 */
function refreshPath(stats) {
  const link = controller.link;
  if (!link) return;
  link
    .connectionPath()
    .then((path) => {
      if (!path || controller.link !== link) return;
      debug.path = path;
      statsLine.textContent = formatStats(stats, path);
    })
    .catch((error) => console.warn("[va] connectionPath failed", error));
}

const controller = new Controller({
  params: offerParams,
  isHidden: () => document.hidden,
  onState: (state, detail) => {
    if (state === State.ERROR && detail && detail.reason === "no-room" && joinedRoom) {
      detail = { ...detail, reason: "class-ended" }; // it was here a moment ago: ended
    }
    if (state !== State.LIVE && state !== State.RECONNECTING) byId("room").hidden = true;
    showJoinBoxes(state, detail);
    debug.state = state;
    debug.detail = detail;
    statusView.render(state, detail);
    followGettingReady(state);
    if (state !== State.LIVE) {
      chipBoard.clear();
      renderLighting(lighting, null);
    }
    if (state === State.IDLE || state === State.ERROR || state === State.CAMERA_BLOCKED) showRemote(null);
  },
  onPeer: (pc) => {
    debug.pc = pc;
    debug.path = null; // a new attempt: its route is not known yet
  },
  onCamera: (stream) => {
    debug.camera = stream;
  },
  onSession: (session) => {
    debug.session = session;
  },
  onRemoteStream: showRemote,
  onOpen,
  onMessage,
});

statusView.render(controller.state, controller.detail);
showJoinBoxes(controller.state, controller.detail);

byId("start").addEventListener("click", () => {
  if (inRoom) {
    const name = nameInput.value.trim().slice(0, 24);
    offerParams.name = name || undefined;
    saveSetting("name", name);
  }
  speaker.unlock();
  controller.start();
});

// Browsers let a page speak only after a user gesture; the first tap anywhere unlocks it
// (autostart has no Start tap). It also resumes a video the browser refused to autoplay.
document.addEventListener(
  "pointerdown",
  () => {
    speaker.unlock();
  },
  { once: true, capture: true },
);
document.addEventListener("click", () => {
  if (needsPlay && remote.srcObject) playRemote();
});

window.addEventListener("pagehide", () => {
  controller.stop();
  speaker.cancel();
  showRemote(null);
});
window.addEventListener("pageshow", (event) => {
  if (event.persisted && autostart()) controller.start();
});
window.addEventListener("unhandledrejection", (event) => {
  console.error("[va] unhandled rejection", event.reason);
  toast.show("😕 Something went wrong", { kind: "error" });
});

/** @returns {boolean} whether ?autostart=1 (or true/yes) is in the URL */
function autostart() {
  const value = query.get("autostart");
  return value !== null && ["1", "true", "yes", ""].includes(value.toLowerCase());
}

if (autostart()) controller.start();
showDemoBadge();
