/**
 * The projector page (/room/CODE/screen): watches a room. It receives the presenting phone's
 * annotated video (a recvonly offer with role "viewer"), shows the found things' names big and
 * the spoken phrase as a caption, and speaks it when the teacher turned projector speech on and
 * someone pressed "Sound on" here (browsers speak only after a click). It sends nothing that
 * changes the room. body[data-state]: connecting | waiting | live | ended | missing | offline.
 *
 * The video needs the screen key the teacher's page put in this page's link (`#key=…`, a URL
 * fragment: browsers never send it to a server); the room code alone shows nothing.
 *
 * While the server still loads its models, the waiting screen shows how far it has got
 * ("Getting ready… 2 of 4", js/ready.js): phones cannot join until then.
 *
 * 📸 Photo is a teacher action, not a viewer's: it shows only when this room's teacher is logged
 * in on this browser (the room is in GET /api/rooms), and it asks the server over HTTP
 * (POST /api/rooms/CODE/snapshot) to save the presenting phone's picture to the library.
 *
 * A class "Find it!" (`class_hunt` messages) is js/hunt-board.js's: the words down the left
 * side, ticked as phones find them, a banner for each find (said like a `say`), "Well done!".
 */
import { backoffDelayMs } from "../js/backoff.js";
import { createDebug, pushCapped } from "../js/debug.js";
import { showDemoBadge } from "../js/demo.js";
import { byId as $ } from "../js/dom.js";
import { HuntBoard } from "../js/hunt-board.js";
import { LinkClosedError, PeerLink } from "../js/peer.js";
import { ReadyBar, StatusWatch } from "../js/ready.js";
import { OfferRejectedError, ServerBusyError } from "../js/signalling.js";
import { Speaker } from "../js/speech.js";

/** Reconnecting: 3 s after the first break, doubling up to 15 s (js/backoff.js). */
const RETRY = { baseMs: 3000, maxMs: 15000 };
const code = decodeURIComponent(location.pathname.split("/")[2] || "").toUpperCase();
const screenKey = new URLSearchParams(location.hash.slice(1)).get("key") || "";
const video = /** @type {HTMLVideoElement} */ ($("screen"));
let projectorSpeech = false;
let soundOn = false;
/** The found things' names shown now. */
let names = [];
/** @type {PeerLink | null} the current connection attempt */
let link = null;
/** Failed attempts since the last open channel (the back-off's step). */
let attempt = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let retryTimer;
/**
 * For tests and curious teachers (js/debug.js): the connection (pc), the room's last state
 * (room), the messages (events), what was said (spoken), the page's state, and chips(): the
 * names shown.
 */
const debug = Object.assign(createDebug(() => names), { room: /** @type {any} */ (null) });
debug.state = document.body.dataset.state || "connecting";
window.vaScreen = debug;

// speaks only when the teacher turned projector speech on and someone pressed "Sound on" here;
// the same phrase is never said twice in a row
const speaker = new Speaker({
  enabled: false,
  repeatWindowMs: Infinity,
  lang: document.documentElement.lang || "en",
  onRecord: (record) => pushCapped(debug.spoken, record),
});

// the class "Find it!": its banners are said like the presenting phone's phrases
const board = new HuntBoard({
  say: (text) => speaker.speak(text, []),
  changed: () => {
    if (debug.room && !debug.room.ended && document.body.dataset.state === "waiting") showRoom(debug.room);
  },
});
Object.defineProperty(debug, "hunt", { get: () => board.debug, enumerable: true });

const ICONS = { connecting: "🔌", waiting: "📺", ended: "🏁", missing: "🔍", locked: "🔑", offline: "🔄", busy: "⏳" };

function setState(state, title) {
  document.body.dataset.state = state;
  debug.state = state;
  if (title) $("waiting-title").textContent = title;
  $("waiting-icon").textContent = ICONS[state] || "📺";
}

function showEnded() {
  board.close();
  setState("ended", "The class has ended");
  $("waiting-help").textContent = "Thank you! The teacher can open a new room for the next class.";
}

function showRoom(room) {
  if (room.ended) {
    showEnded();
    return;
  }
  projectorSpeech = Boolean(room.projector_speech);
  speaker.setEnabled(projectorSpeech && soundOn);
  speaker.setLang(typeof room.language === "string" ? room.language : "en");
  $("sound").hidden = !projectorSpeech || soundOn;
  if (room.presenting) {
    setState("live");
  } else {
    showWaiting();
    names = [];
    $("label").textContent = "";
    $("caption").textContent = "";
  }
}

/** No phone on the screen: what to do now (the hunt's words, when one is on, are on the left). */
function showWaiting() {
  if (board.mode === "on") {
    setState("waiting", "Find these things!");
    $("waiting-icon").textContent = "🎯";
    $("waiting-help").textContent = "Show them to your phone's camera.";
  } else if (board.mode === "over") {
    setState("waiting", "Well done, everyone!");
    $("waiting-icon").textContent = "🎉";
    $("waiting-help").textContent = "Look at all the things you found.";
  } else {
    setState("waiting", "Waiting for a phone…");
    $("waiting-help").textContent = "Scan the code or open the link on a phone to join.";
  }
}

function showObjects(objects) {
  names = [...new Set(objects.map((o) => o.label))].slice(0, 3);
  $("label").textContent = names.join(" · ");
}

function showSay(message) {
  const text = String(message.text || "");
  $("caption").textContent = text;
  speaker.speak(text, Array.isArray(message.ids) ? message.ids : []);
}

/** @param {string} text one data-channel message */
function onMessage(text) {
  let message;
  try {
    message = JSON.parse(text);
  } catch {
    return;
  }
  if (!message || typeof message !== "object") return;
  pushCapped(debug.events, message);
  if (message.type === "room") {
    debug.room = message;
    showRoom(message);
    if (!message.ended) board.onRoom(message);
  } else if (message.type === "class_hunt") board.onClassHunt(message);
  else if (message.type === "objects") showObjects(message.objects || []);
  else if (message.type === "say") showSay(message);
}

/** One attempt to watch the room (a recvonly offer with role "viewer" and this screen's key). */
function watch() {
  clearTimeout(retryTimer);
  link?.close();
  const current = new PeerLink({
    onTrack: (stream) => {
      debug.remote = stream;
      video.srcObject = stream;
    },
    onOpen: () => {
      attempt = 0;
    },
    onMessage,
    onDown: () => {
      if (link === current) retry();
    },
  });
  link = current;
  debug.pc = current.pc;
  current.negotiate({ room: code, role: "viewer", screen: screenKey }).then(
    (session) => {
      if (link === current) debug.session = session;
    },
    (error) => {
      if (link === current && !(error instanceof LinkClosedError)) refused(error);
    },
  );
}

/** The connection broke: say so and try again after the back-off (not once the class ended). */
function retry() {
  link?.close();
  link = null;
  if (document.body.dataset.state === "ended") return;
  setState("offline", "Reconnecting…");
  retryTimer = setTimeout(watch, backoffDelayMs(attempt, RETRY));
  attempt += 1;
}

/** The server did not take the offer: explain why, and try again only where that can help. */
function refused(error) {
  if (error instanceof OfferRejectedError && (error.status === 404 || error.status === 403)) {
    link?.close();
    link = null;
    if (error.status === 403) {
      setState("locked", "Open the class screen from the teacher's page");
      $("waiting-help").textContent = "Press “📺 Open class screen” on the teacher's page: its link has the key this screen needs.";
    } else if (debug.room) {
      showEnded(); // it was here a moment ago
    } else {
      setState("missing", `No class with the code “${code}”`);
      $("waiting-help").textContent = "The class may have ended. Open a new class screen from the teacher's page.";
    }
    return;
  }
  if (error instanceof ServerBusyError) {
    link?.close();
    link = null;
    setState("busy", "Please wait a moment");
    $("waiting-help").textContent = "The class screen will try again by itself.";
    retryTimer = setTimeout(watch, error.retryAfterS * 1000);
    return;
  }
  retry();
}

async function offerSnapshots() {
  let mine = false;
  try {
    const response = await fetch("/api/rooms", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) return; // not a teacher on this browser: no button
    const { rooms } = await response.json();
    mine = Array.isArray(rooms) && rooms.some((room) => room.code === code);
  } catch {
    return;
  }
  const button = /** @type {HTMLButtonElement} */ ($("snap"));
  button.hidden = !mine;
  if (!mine) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    let text = "⚠️ Not saved";
    try {
      const response = await fetch(`/api/rooms/${encodeURIComponent(code)}/snapshot`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
        credentials: "same-origin",
        cache: "no-store",
      });
      const data = await response.json().catch(() => null);
      if (response.ok) text = "✅ Saved";
      else if (data && data.error) text = `⚠️ ${String(data.error).slice(0, 60)}`;
    } catch {
      text = "⚠️ Offline";
    }
    button.textContent = text;
    setTimeout(() => {
      button.textContent = "📸 Photo";
      button.disabled = false;
    }, 2000);
  });
}

$("qr").setAttribute("src", `/api/rooms/${encodeURIComponent(code)}/qr.png`);
$("join-code").textContent = code;
$("sound").addEventListener("click", () => {
  soundOn = true;
  $("sound").hidden = true;
  speaker.setEnabled(projectorSpeech);
  speaker.unlock(); // browsers speak only after a click
});
// the server's models: a bar while they load, gone (and no more asking) once they are ready
const readyBar = new ReadyBar($("ready"));
new StatusWatch((status) => {
  if (!status) return true;
  debug.loading = status.loading ?? null;
  if (status.ready === true) {
    readyBar.hide();
    return false;
  }
  readyBar.show(status.loading);
  return true;
}).start();
watch();
offerSnapshots();
showDemoBadge();
