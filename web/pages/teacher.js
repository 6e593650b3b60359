/**
 * The teacher's page: /teacher (log in, list rooms, create one) and /room/CODE/teacher (the
 * room's controls). The teacher sees every phone by its name with a small still picture
 * (refreshed every few seconds from GET /api/rooms/CODE/phones/ID/preview.jpg) and its state
 * (waiting, let in, on the class screen, silent), and decides: ✅ Let in, 📺 Show, ✏️ Name,
 * 🚫 Remove (asked twice). The room can be locked or given a new code, the first phone can be
 * allowed to show at once, a class screen opens with a fresh key only this teacher can mint
 * and connected screens can be disconnected. Every change is a JSON POST to
 * /api/rooms/CODE/...; the page polls the room's state once a second and updates in place
 * (a form being typed in or a question being asked stays as it is).
 * While the server loads its models a bar at the top says how far it has got.
 * The "🎯 Find it! game" panel and the class language menu are js/class-hunt.js's.
 */
import { api } from "../js/api.js";
import { limitLength, loadChoices } from "../js/choices.js";
import { showDemoBadge } from "../js/demo.js";
import { ReadyBar, StatusWatch, describeBuilding } from "../js/ready.js";
import { ClassHuntPanel } from "../js/class-hunt.js";
import { byId as $ } from "../js/dom.js";
import { normaliseThemes } from "../js/vocabulary.js";

const parts = location.pathname.split("/");
const code = parts[1] === "room" ? decodeURIComponent(parts[2] || "").toUpperCase() : "";
const POLL_MS = 1000;
const PREVIEW_MS = 3000;
const STATES = {
  waiting: "⏳ Waiting",
  admitted: "✅ Let in",
  presenting: "📺 On the class screen",
};
/** The last room state shown; the phone cards by phone id. */
let room = null;
/** The server's limits (GET /api/choices): the words box, a phone's name. */
let limits = {};
const cards = new Map();
let polling = false;
/** The Find it! panel (only on a room's page). */
const hunt = code ? new ClassHuntPanel({ code, onRoom: (answer) => renderRoom(answer), friendly }) : null;

function show(section) {
  for (const id of ["login", "rooms", "controls", "gone"]) $(id).hidden = id !== section;
  document.body.dataset.state = section;
  $("logout").hidden = section === "login";
}

/** Words for a failed call that a teacher can act on (never a raw error). */
function friendly(error) {
  const status = error && error.status;
  if (status === 400) return `⚠️ ${error.message}`; // the server's reason, written for people
  if (status === 401) return "🔑 Please log in again.";
  if (status === 403) return "⚠️ This room belongs to another teacher.";
  if (status === 404) return "⚠️ That phone or room is gone.";
  if (status === 409) return "⚠️ You have too many rooms open: end one first.";
  if (status === 429 || status === 503) return "⏳ Please wait a moment, then try again.";
  return "⚠️ Something went wrong. Please try again.";
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
  let open = [];
  try {
    ({ rooms: open } = await api("GET", "/api/rooms"));
  } catch (error) {
    $("rooms-error").textContent = friendly(error);
  }
  $("no-rooms").hidden = open.length > 0;
  for (const each of open) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.className = "big button";
    link.href = each.teacher_url;
    const count = each.phones.length;
    link.textContent = `🏫 Room ${each.code} · ${count} ${count === 1 ? "phone" : "phones"}`;
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

function previewUrl(id) {
  return `/api/rooms/${encodeURIComponent(code)}/phones/${encodeURIComponent(id)}/preview.jpg?t=${Date.now()}`;
}

/** A phone's card, made once and then updated in place. */
function makeCard(id) {
  const item = /** @type {HTMLElement} */ ($("phone-template").content.firstElementChild.cloneNode(true));
  item.dataset.session = id;
  const q = (selector) => /** @type {any} */ (item.querySelector(selector));
  limitLength(q(".name-input"), limits, "max_name_chars");
  const preview = q(".preview");
  preview.addEventListener("load", () => item.classList.remove("no-picture"));
  preview.addEventListener("error", () => item.classList.add("no-picture"));
  q(".admit").addEventListener("click", () => act(`phones/${encodeURIComponent(id)}/admit`, {}));
  q(".show").addEventListener("click", () => act("presenter", { session: id }));
  q(".rename").addEventListener("click", () => {
    q(".name-form").hidden = false;
    q(".name-input").value = q(".phone-name").textContent;
    q(".name-input").focus();
  });
  q(".name-cancel").addEventListener("click", () => (q(".name-form").hidden = true));
  q(".name-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = q(".name-input").value.trim();
    if (!name) return;
    q(".name-form").hidden = true;
    await act(`phones/${encodeURIComponent(id)}/name`, { name });
  });
  q(".remove").addEventListener("click", () => {
    q(".remove-text").textContent = `Remove “${q(".phone-name").textContent}”? It cannot join this room again.`;
    q(".remove-confirm").hidden = false;
  });
  q(".remove-no").addEventListener("click", () => (q(".remove-confirm").hidden = true));
  q(".remove-yes").addEventListener("click", () => {
    q(".remove-confirm").hidden = true;
    act(`phones/${encodeURIComponent(id)}/remove`, {});
  });
  preview.src = previewUrl(id);
  return item;
}

function renderPhones(current) {
  const list = $("phones");
  const seen = new Set();
  current.phones.forEach((phone, index) => {
    seen.add(phone.id);
    let item = cards.get(phone.id);
    if (!item) {
      item = makeCard(phone.id);
      cards.set(phone.id, item);
    }
    if (list.children[index] !== item) list.insertBefore(item, list.children[index] || null);
    const q = (selector) => /** @type {any} */ (item.querySelector(selector));
    const presenting = phone.id === current.presenting || phone.state === "presenting";
    const state = presenting ? "presenting" : phone.state;
    item.dataset.state = state; // waiting | admitted | presenting
    item.dataset.presenting = String(presenting);
    q(".phone-name").textContent = phone.name;
    q(".preview").alt = `What ${phone.name} sees`;
    q(".phone-state").textContent = STATES[state] || state;
    q(".phone-muted").hidden = !current.speech_muted;
    q(".admit").hidden = state !== "waiting";
    q(".show").hidden = presenting;
  });
  for (const [id, item] of cards) {
    if (!seen.has(id)) {
      item.remove();
      cards.delete(id);
    }
  }
  $("no-phones").hidden = current.phones.length > 0;
}

function renderScreens(current) {
  const list = $("screens");
  list.replaceChildren();
  current.screens.forEach((screen, index) => {
    const item = document.createElement("li");
    item.dataset.screen = screen.id;
    const label = document.createElement("span");
    label.textContent = `📺 Class screen ${index + 1}`;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "big disconnect";
    button.textContent = "✖ Disconnect";
    button.addEventListener("click", () => act(`screens/${encodeURIComponent(screen.id)}/disconnect`, {}));
    item.append(label, button);
    list.append(item);
  });
  $("no-screens").hidden = current.screens.length > 0;
}

function renderRoom(current) {
  room = current;
  $("code").textContent = current.code;
  if ($("join-url").href !== current.join_url) $("join-url").textContent = $("join-url").href = current.join_url;
  const warning = joinWarning(current.join_url);
  $("join-warning").textContent = warning;
  $("join-warning").hidden = !warning;
  if (!$("room-qr").src.startsWith(new URL(current.qr_url, location.href).href)) $("room-qr").src = current.qr_url;
  $("muted").checked = current.speech_muted;
  $("projector").checked = current.projector_speech;
  $("first-presents").checked = Boolean(current.first_phone_presents);
  $("lock").textContent = current.locked ? "🔓 Unlock" : "🔒 Lock";
  $("lock").setAttribute("aria-pressed", String(Boolean(current.locked)));
  $("locked-note").hidden = !current.locked;
  $("words-now").textContent = current.theme
    ? `Now: the ${current.theme} theme`
    : current.words
      ? `Now: ${current.words}`
      : "";
  renderPhones(current);
  renderScreens(current);
  hunt?.render(current);
}

async function act(what, body) {
  $("controls-error").textContent = "";
  try {
    const answer = await api("POST", `/api/rooms/${code}/${what}`, body);
    if (what === "end") {
      location.href = "/teacher";
      return;
    }
    if (what === "code") {
      location.replace(answer.teacher_url); // the page lives under the room's new code
      return;
    }
    renderRoom(answer);
    if (answer.problems && answer.problems.length) $("controls-error").textContent = `⚠️ ${answer.problems.join("; ")}`;
  } catch (error) {
    $("controls-error").textContent = friendly(error);
  }
}

async function controls() {
  show("controls");
  if (polling) return;
  polling = true;
  const poll = async () => {
    try {
      renderRoom(await api("GET", `/api/rooms/${code}`));
    } catch (error) {
      if (error.status === 404) {
        show("gone"); // the room ended (here, or by an admin)
        return;
      }
      if (error.status === 401) {
        polling = false;
        show("login");
        return;
      }
      $("controls-error").textContent = friendly(error);
    }
    setTimeout(poll, POLL_MS);
  };
  // each phone's still picture, a few seconds apart (an img keeps its last one meanwhile)
  setInterval(() => {
    for (const [id, item] of cards) /** @type {any} */ (item.querySelector(".preview")).src = previewUrl(id);
  }, PREVIEW_MS);
  await poll();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    await api("POST", "/api/login", { name: $("name").value, password: $("password").value });
    await start();
  } catch (error) {
    $("login-error").textContent = error.status === 401 ? "Wrong name or password." : friendly(error);
  }
});
$("logout").addEventListener("click", async () => {
  try {
    await api("POST", "/api/logout", {});
  } catch {
    // logged out already: the login form is what is left either way
  }
  location.href = "/teacher";
});
$("new-room").addEventListener("click", async () => {
  try {
    const created = await api("POST", "/api/rooms", {});
    location.href = created.teacher_url;
  } catch (error) {
    $("rooms-error").textContent = friendly(error);
  }
});
$("words-form").addEventListener("submit", (event) => {
  event.preventDefault();
  if ($("words").value.trim()) act("words", { words: $("words").value });
});
$("theme").addEventListener("change", () => {
  if ($("theme").value) act("words", { theme: $("theme").value });
});
// the class screen's link carries a fresh key that only this teacher can mint
$("open-screen").addEventListener("click", async () => {
  $("controls-error").textContent = "";
  const opened = window.open("", "_blank");
  try {
    const { screen_url: url } = await api("POST", `/api/rooms/${code}/screens`, {});
    $("screen-link").textContent = $("screen-link").href = url;
    $("screen-link-line").hidden = false;
    if (opened) opened.location.href = url;
  } catch (error) {
    if (opened) opened.close();
    $("controls-error").textContent = friendly(error);
  }
});
$("first-presents").addEventListener("change", () =>
  act("settings", { first_phone_presents: $("first-presents").checked }),
);
$("lock").addEventListener("click", () => act("settings", { locked: !(room && room.locked) }));
$("new-code").addEventListener("click", () => ($("new-code-confirm").hidden = false));
$("new-code-no").addEventListener("click", () => ($("new-code-confirm").hidden = true));
$("new-code-yes").addEventListener("click", () => {
  $("new-code-confirm").hidden = true;
  act("code", {});
});
$("muted").addEventListener("change", () => act("speech", { muted: $("muted").checked }));
$("projector").addEventListener("change", () => act("speech", { projector: $("projector").checked }));
$("end").addEventListener("click", () => ($("end-confirm").hidden = false));
$("end-no").addEventListener("click", () => ($("end-confirm").hidden = true));
$("end-yes").addEventListener("click", () => {
  $("end-confirm").hidden = true;
  act("end", {});
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
/**
 * The server's themes after "… or a theme" (until they come, only the words box), and its
 * limits for the boxes.
 * @param {{themes: unknown[], limits: Record<string, any>}} choices
 */
function useChoices(choices) {
  limits = choices.limits;
  hunt?.useChoices(choices);
  limitLength($("words"), limits, "max_words_chars");
  for (const item of cards.values()) limitLength(item.querySelector(".name-input"), limits, "max_name_chars");
  const select = $("theme");
  const chosen = select.value;
  for (const option of [...select.options]) if (option.value) option.remove();
  for (const theme of normaliseThemes(choices.themes)) select.add(new Option(theme.name, theme.name));
  select.value = [...select.options].some((option) => option.value === chosen) ? chosen : "";
}
loadChoices(useChoices);
start();
showDemoBadge();
