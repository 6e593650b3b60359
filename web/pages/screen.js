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
 */
import { fetchIceConfig } from "../js/peer.js";
import { showDemoBadge } from "../js/demo.js";
import { ReadyBar, StatusWatch } from "../js/ready.js";
import { postOffer, waitForIceGathering, OfferRejectedError, ServerBusyError } from "../js/signalling.js";
import { byId as $ } from "../js/dom.js";

const RETRY_MS = 3000;
const code = decodeURIComponent(location.pathname.split("/")[2] || "").toUpperCase();
const screenKey = new URLSearchParams(location.hash.slice(1)).get("key") || "";
const video = /** @type {HTMLVideoElement} */ ($("screen"));
let projectorSpeech = false;
let soundOn = false;
let lastSaid = "";
/** For tests and curious teachers: the connection, the room's last state, the messages. */
const debug = { pc: null, room: null, events: [], loading: null };
window.vaScreen = debug;

const ICONS = { connecting: "🔌", waiting: "📺", ended: "🏁", missing: "🔍", locked: "🔑", offline: "🔄", busy: "⏳" };

function setState(state, title) {
  document.body.dataset.state = state;
  if (title) $("waiting-title").textContent = title;
  $("waiting-icon").textContent = ICONS[state] || "📺";
}

function showRoom(room) {
  if (room.ended) {
    setState("ended", "The class has ended");
    $("waiting-help").textContent = "Thank you! The teacher can open a new room for the next class.";
    return;
  }
  projectorSpeech = Boolean(room.projector_speech);
  $("sound").hidden = !projectorSpeech || soundOn;
  if (room.presenting) {
    setState("live");
  } else {
    setState("waiting", "Waiting for a phone…");
    $("waiting-help").textContent = "Scan the code or open the link on a phone to join.";
    $("label").textContent = "";
    $("caption").textContent = "";
  }
}

function showObjects(objects) {
  const names = [...new Set(objects.map((o) => o.label))];
  $("label").textContent = names.slice(0, 3).join(" · ");
}

function showSay(text) {
  $("caption").textContent = text;
  if (projectorSpeech && soundOn && text !== lastSaid && "speechSynthesis" in window) {
    speechSynthesis.speak(new SpeechSynthesisUtterance(text));
  }
  lastSaid = text;
}

function onMessage(event) {
  let message;
  try {
    message = JSON.parse(event.data);
  } catch {
    return;
  }
  debug.events.push(message);
  if (debug.events.length > 200) debug.events.shift();
  if (message.type === "room") {
    debug.room = message;
    showRoom(message);
  }
  else if (message.type === "objects") showObjects(message.objects || []);
  else if (message.type === "say") showSay(message.text || "");
}

async function watch() {
  const pc = new RTCPeerConnection(await fetchIceConfig()); // STUN/TURN from the server, or []
  debug.pc = pc;
  pc.addTransceiver("video", { direction: "recvonly" });
  const channel = pc.createDataChannel("events");
  channel.addEventListener("message", onMessage);
  pc.addEventListener("track", (event) => {
    video.srcObject = event.streams[0] || new MediaStream([event.track]);
  });
  const retry = () => {
    if (document.body.dataset.state === "ended") return;
    pc.close();
    setState("offline", "Reconnecting…");
    setTimeout(watch, RETRY_MS);
  };
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed" || pc.connectionState === "closed") retry();
  });
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);
    const answer = await postOffer(pc.localDescription, { room: code, role: "viewer", screen: screenKey });
    await pc.setRemoteDescription(answer);
  } catch (error) {
    if (error instanceof OfferRejectedError && error.status === 404) {
      pc.close();
      if (debug.room) {
        setState("ended", "The class has ended"); // it was here a moment ago
        $("waiting-help").textContent = "Thank you! The teacher can open a new room for the next class.";
      } else {
        setState("missing", `No class with the code “${code}”`);
        $("waiting-help").textContent = "The class may have ended. Open a new class screen from the teacher's page.";
      }
      return;
    }
    if (error instanceof OfferRejectedError && error.status === 403) {
      pc.close();
      setState("locked", "Open the class screen from the teacher's page");
      $("waiting-help").textContent = "Press “📺 Open class screen” on the teacher's page: its link has the key this screen needs.";
      return;
    }
    if (error instanceof ServerBusyError) {
      pc.close();
      setState("busy", "Please wait a moment");
      $("waiting-help").textContent = "The class screen will try again by itself.";
      setTimeout(watch, error.retryAfterS * 1000);
      return;
    }
    retry();
  }
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
  if ("speechSynthesis" in window) speechSynthesis.speak(new SpeechSynthesisUtterance(""));
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
