/**
 * The teacher's page: /teacher (log in, list rooms, create one) and /room/CODE/teacher (the
 * room's controls: which phone presents, words or theme for every phone, speech, end). Every
 * change is a JSON POST to /api/rooms/CODE/...; the page polls the room's state once a second.
 * While the server loads its models a bar at the top says how far it has got (phones join only
 * after that), then a line while faster runtimes are still built in the background.
 */
import { api } from "./api.js";
import { showDemoBadge } from "./demo.js";
import { ReadyBar, StatusWatch, describeBuilding } from "./ready.js";

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const parts = location.pathname.split("/");
const code = parts[1] === "room" ? decodeURIComponent(parts[2] || "").toUpperCase() : "";
const POLL_MS = 1000;

function show(section) {
  for (const id of ["login", "rooms", "controls"]) $(id).hidden = id !== section;
  document.body.dataset.state = section;
}

async function start() {
  try {
    await api("GET", "/api/me");
  } catch (error) {
    show("login");
    return;
  }
  if (code) await controls();
  else await rooms();
}

async function rooms() {
  show("rooms");
  const list = $("room-list");
  list.replaceChildren();
  const { rooms } = await api("GET", "/api/rooms");
  for (const room of rooms) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = room.teacher_url;
    link.textContent = `${room.code} (${room.phones.length} phone(s))`;
    item.append(link);
    list.append(item);
  }
}

/**
 * Why phones may not manage to use the join link, in a few words ("" when they can). The
 * server already picks the address phones can reach; what is left is said here.
 * @param {string} url
 */
function joinWarning(url) {
  let link;
  try {
    link = new URL(url);
  } catch {
    return "";
  }
  const host = link.hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost" || host.endsWith(".localhost") || host === "::1" || host.startsWith("127.")) {
    return "⚠️ Phones cannot open this link: it points to this computer. Start the server on the school network.";
  }
  if (link.protocol === "http:") return "⚠️ Phones need an https:// link to use the camera.";
  return "";
}

function renderRoom(room) {
  $("code").textContent = room.code;
  $("join-url").textContent = $("join-url").href = room.join_url;
  const warning = joinWarning(room.join_url);
  $("join-warning").textContent = warning;
  $("join-warning").hidden = !warning;
  $("screen-url").href = room.screen_url;
  $("room-qr").src = room.qr_url;
  $("muted").checked = room.speech_muted;
  $("projector").checked = room.projector_speech;
  $("no-phones").hidden = room.phones.length > 0;
  const list = $("phones");
  list.replaceChildren();
  room.phones.forEach((id, index) => {
    const item = document.createElement("li");
    item.dataset.session = id;
    item.dataset.presenting = String(id === room.presenter);
    item.append(`Phone ${index + 1} (${id}) `);
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = id === room.presenter ? "📽 On screen" : "Show on screen";
    button.disabled = id === room.presenter;
    button.addEventListener("click", () => act("presenter", { session: id }));
    item.append(button);
    list.append(item);
  });
}

async function act(what, body) {
  $("controls-error").textContent = "";
  try {
    const room = await api("POST", `/api/rooms/${code}/${what}`, body);
    if (what === "end") {
      location.href = "/teacher";
      return;
    }
    renderRoom(room);
    if (room.problems && room.problems.length) $("controls-error").textContent = room.problems.join("; ");
  } catch (error) {
    $("controls-error").textContent = error.message;
  }
}

async function controls() {
  show("controls");
  const poll = async () => {
    try {
      renderRoom(await api("GET", `/api/rooms/${code}`));
    } catch (error) {
      $("controls-error").textContent = error.message;
      if (error.status === 404) return; // the room ended
    }
    setTimeout(poll, POLL_MS);
  };
  await poll();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("POST", "/api/login", { name: $("name").value, password: $("password").value });
    await start();
  } catch (error) {
    $("login-error").textContent = error.status === 401 ? "Wrong name or password." : error.message;
  }
});
$("new-room").addEventListener("click", async () => {
  try {
    const room = await api("POST", "/api/rooms", {});
    location.href = room.teacher_url;
  } catch (error) {
    $("rooms-error").textContent = error.message;
  }
});
$("words-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("words").value.trim()) act("words", { words: $("words").value });
});
$("theme").addEventListener("change", () => {
  if ($("theme").value) act("words", { theme: $("theme").value });
});
$("muted").addEventListener("change", () => act("speech", { muted: $("muted").checked }));
$("projector").addEventListener("change", () => act("speech", { projector: $("projector").checked }));
$("end").addEventListener("click", () => {
  if (confirm("End the room for everyone?")) act("end", {});
});
const readyBar = new ReadyBar($("ready"));
new StatusWatch((status) => {
  if (!status) return true;
  const loading = status.ready === true ? null : status.loading;
  readyBar.show(loading);
  const building = loading ? "" : describeBuilding(status.building);
  $("building").textContent = building;
  $("building").hidden = !building;
  return !(status.ready === true && !building); // ready and nothing left: stop asking
}).start();
start();
showDemoBadge();
