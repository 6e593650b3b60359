/**
 * VisionAnything Live, the phone page: wires the shared modules under web/js/ together.
 *
 * Start (or ?autostart=1) opens the rear camera and connects to the server over WebRTC; the
 * annotated video comes back full screen; `objects` become label chips, `say` is spoken,
 * `stats` feed the lighting indicator and the stats line, `error` shows a toast, `hunt` plays
 * "Find it!" (js/hunt.js), `language` brings the child's words (js/words.js, js/language.js).
 * Every control has an icon and a word; a tap on a chip says the word slowly and shows it big
 * (js/keep.js); a tap on the picture is always answered (js/marks.js). The only global is
 * window.vaDebug (see js/debug.js).
 */

import { ChipBoard, cleanObjects } from "../js/chips.js";
import { limit, limitLength, loadChoices } from "../js/choices.js";
import { byId } from "../js/dom.js";
import { Controller } from "../js/controller.js";
import { createDebug, pushCapped } from "../js/debug.js";
import { HuntView } from "../js/hunt.js";
import { TodayWords, WordKeeper } from "../js/keep.js";
import { LanguageChooser } from "../js/language.js";
import { TapNote } from "../js/marks.js";
import { bindControls } from "../js/phone-controls.js";
import { PhoneRoom } from "../js/phone-room.js";
import { showDemoBadge } from "../js/demo.js";
import { ReadyBar, StatusWatch } from "../js/ready.js";
import { renderLighting } from "../js/lighting.js";
import { Speaker } from "../js/speech.js";
import { State } from "../js/states.js";
import { formatStats } from "../js/stats.js";
import { loadSetting, saveSetting } from "../js/storage.js";
import { attachTap } from "../js/tap.js";
import { Toast } from "../js/toast.js";
import { StatusView } from "../js/ui.js";
import { VocabularyPicker, cleanWords, vocabularyMessage } from "../js/vocabulary.js";
import { PageWords, errorText } from "../js/words.js";


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
const remote = /** @type {HTMLVideoElement} */ (byId("remote"));
const toast = new Toast(byId("toast"));
const lighting = byId("lighting");
const statsLine = byId("stats");

/** The page's own words in the child's language (English until the server sends others). */
const words = new PageWords();
const t = (key, values) => words.t(key, values);
/** @type {{id: unknown, label: string, say: string, box: number[] | null}[]} the latest `objects` */
let latestObjects = [];

// a chip tapped: its word said again slowly and shown big (js/keep.js)
const chipBoard = new ChipBoard(byId("chips"), {
  names: true,
  onPick: (chip) => keeper.keep(chipBoard.nameOf(chip)),
});

const debug = createDebug(() => chipBoard.labels());
window.vaDebug = debug;

const statusView = new StatusView(
  { body: document.body, icon: byId("status-icon"), status: byId("status"), help: byId("help"), start: byId("start") },
  t,
);

const speaker = new Speaker({
  enabled: loadSetting("speech", true),
  lang: document.documentElement.lang || "en",
  onRecord: (record) => pushCapped(debug.spoken, record),
});

const keeper = new WordKeeper({
  overlay: byId("spell"),
  word: byId("spell-word"),
  letters: byId("spell-letters"),
  speak: (text, options) => speaker.speak(text, [], options),
});
const tapNote = new TapNote(byId("tap-note"), { t, objects: () => latestObjects });

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

// ---- controls: Sound, Pause, Show all, Photo, numbers (js/phone-controls.js) -----------------

const inRoom = Boolean(offerParams.room);
document.body.classList.toggle("in-room", inRoom);
const controls = bindControls({
  speaker,
  chipBoard,
  send,
  toast,
  t,
  live: () => controller.state === State.LIVE,
  video: remote,
  inRoom,
  statsLine,
});
const { speechToggle, pauseToggle, everythingToggle, liveMode } = controls;

/** The server's limits (GET /api/choices): a name's length, a class code's letters. */
let limits = {};
// the class room's badge and words, the name and class-code boxes (js/phone-room.js)
const room = new PhoneRoom({
  params: offerParams,
  inRoom,
  t,
  finish: (reason) => controller.finish(reason),
  session: () => debug.session,
  title: (theme) => words.titles.get(theme) || theme.charAt(0).toUpperCase() + theme.slice(1),
  limits: () => limits,
});

const picker = new VocabularyPicker({
  select: byId("theme"),
  form: byId("find-form"),
  input: byId("find"),
  title: (theme) => words.titles.get(theme.name) || theme.title,
  everything: () => t("everything"),
  onChoose: (selection, description) => {
    let told = false;
    if (selection && selection.words) {
      told = language.check(selection.words.split(",").map((w) => w.trim()));
      selection.words = cleanWords(words.toDetector(selection.words)); // "tasse" -> "cup"
    }
    const message = vocabularyMessage(selection);
    if (!message) return;
    const sent = send(message);
    if (told) return; // the notice about a word said as typed stays
    toast.show(`👀 ${t(sent ? "looking_for" : "looking_later", { what: description })}`);
  },
  onEmpty: () => toast.show(`✏️ ${t("find_placeholder")}`),
});

const language = new LanguageChooser({
  button: byId("language-button"),
  sheet: byId("language-sheet"),
  list: byId("language-list"),
  close: byId("language-close"),
  words,
  send,
  tell: (text) => toast.show(text, { ms: 5000 }),
});

const todayWords = new TodayWords();
const hunt = new HuntView(
  {
    send,
    speak: (text) => speaker.speak(text),
    keep: (text) => keeper.keep(text),
    t,
    nameOf: (word) => words.nameOf(word),
    object: (id) => latestObjects.find((o) => String(o.id) === String(id)),
    selection: () => picker.selection,
    live: () => controller.state === State.LIVE,
    tell: (text) => toast.show(text),
    named: (word, name) => language.heard(word, name),
  },
  todayWords,
  remote,
);

/** The child's language arrived (or was known from before): every word on the page follows. */
function showWords() {
  document.documentElement.lang = words.code;
  speaker.setLang(words.code);
  words.apply(document);
  controls.render();
  picker.relabel();
  hunt.refresh();
  statusView.refresh();
  room.relabel();
  renderLighting(lighting, lighting.dataset.state || null, t);
}
words.onChange(showWords);
showWords();

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
      picker.setLimits(message.limits);
      if (message.vocabulary != null) picker.setDefaultWords(message.vocabulary);
      break;
    case "objects":
      latestObjects = cleanObjects(message.objects);
      chipBoard.update(message.objects);
      break;
    case "hunt":
      hunt.render(message);
      break;
    case "language":
      language.received(message);
      break;
    case "say": {
      const ids = Array.isArray(message.ids) ? message.ids : message.id != null ? [message.id] : [];
      speaker.speak(message.text, ids);
      chipBoard.highlight(ids);
      break;
    }
    case "stats":
      renderLighting(lighting, message.lighting && message.lighting.state, t);
      statsLine.textContent = formatStats(message, debug.path);
      refreshPath(message);
      break;
    case "room":
      room.received(message);
      break;
    case "kept":
      hunt.kept(message);
      break;
    case "snapshot_saved":
      toast.show(`📸 ${t("photo_saved")}`);
      break;
    case "error":
      toast.show(errorText(message, t), { kind: "error" });
      break;
    default:
      break;
  }
}

// ---- joining a class: a name (optional) and a typed code ----------------------------------

const nameInput = byId("phone-name");
nameInput.value = loadSetting("name", "");
const codeInput = byId("room-code");

/** The channel opened: tell the server this page's settings. */
function onOpen() {
  send({ type: "speech", on: speechToggle.value });
  language.resend();
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
      toast.show(`👆 ${t("tap_to_show")}`);
    },
  );
}

// every tap on the picture is answered: "I'm looking…", then what is there or "Nothing there yet"
attachTap(remote, (point, at) => {
  if (controller.state !== State.LIVE) {
    toast.show(`📷 ${t("start_first")}`);
    return false;
  }
  const sent = sendTap(point);
  if (sent && at) tapNote.tapped(point, at);
  return sent;
});

// ---- getting ready ----------------------------------------------------------------------------

// While the server loads its models ("Getting ready"), a bar says how far it has got; once it
// says it is ready the page asks again at once instead of finishing the countdown.
const readyBar = new ReadyBar(byId("ready"), t);
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
    if (state === State.ERROR && detail && detail.reason === "no-room" && room.joined) {
      detail = { ...detail, reason: "class-ended" }; // it was here a moment ago: ended
    }
    if (state !== State.LIVE && state !== State.RECONNECTING) byId("room").hidden = true;
    room.showJoinBoxes(state, detail);
    debug.state = state;
    debug.detail = detail;
    statusView.render(state, detail);
    followGettingReady(state);
    if (state !== State.LIVE) {
      chipBoard.clear();
      latestObjects = [];
      tapNote.clear();
      hunt.reset();
      renderLighting(lighting, null, t);
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

// the badges at the top keep clear of the "Live" pill (top left), whatever its words
new ResizeObserver(() => {
  const width = Math.ceil(byId("panel").getBoundingClientRect().width);
  document.body.style.setProperty("--pill-width", `${width}px`);
}).observe(byId("panel"));
room.showJoinBoxes(controller.state, controller.detail);

byId("start").addEventListener("click", () => {
  if (inRoom) {
    const max = limit(limits, "max_name_chars");
    const name = max ? nameInput.value.trim().slice(0, max) : nameInput.value.trim();
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
  toast.show(`😕 ${t("went_wrong")}`, { kind: "error" });
});

/** @returns {boolean} whether ?autostart=1 (or true/yes) is in the URL */
function autostart() {
  const value = query.get("autostart");
  return value !== null && ["1", "true", "yes", ""].includes(value.toLowerCase());
}

// the server's themes and limits; `hello` brings the themes again once connected
loadChoices((choices) => {
  limits = choices.limits;
  if (choices.languages) language.setLanguages(choices.languages);
  picker.setThemes(choices.themes);
  picker.setLimits(limits);
  limitLength(nameInput, limits, "max_name_chars");
  limitLength(codeInput, limits, "code_length");
});
if (autostart()) controller.start();
showDemoBadge();
