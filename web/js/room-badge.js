/**
 * A phone in a classroom room (the `room` message): its name and what the teacher decided
 * (waiting, let in, on the class screen) in the badge (#room), the room's words (read-only
 * here: the teacher sets them) in #room-words; removed or ended: the page stops and says so.
 */

import { english } from "./english.js";
import { THEME_ICONS, THEME_ICON_OTHER } from "./vocabulary.js";

/** Icon and page word (js/english.js) per place in the room. */
const ROOM_STATES = {
  waiting: ["⏳", "room_waiting"],
  admitted: ["✅", "room_admitted"],
  presenting: ["📺", "room_presenting"],
};

/**
 * @typedef {object} RoomHooks
 * @property {(reason: string) => void} finish stop for good ("removed", "class-ended")
 * @property {(code: string) => void} recode the room has a new code
 * @property {() => string} session this phone's session id
 * @property {(theme: string) => string} title a theme's title in the child's language
 * @property {(key: string, values?: Record<string, string | number>) => string} [t] the page's
 *           words (English when not given)
 */

/**
 * Draw a `room` message.
 * @param {{code?: string, presenting?: string | null, ended?: boolean, removed?: boolean,
 *          words?: string | null, theme?: string | null, speech_muted?: boolean,
 *          you?: {name?: string, state?: string}}} room
 * @param {RoomHooks} hooks
 * @returns {boolean} whether the phone is (still) in the room
 */
export function renderRoom(room, hooks) {
  const badge = /** @type {HTMLElement} */ (document.getElementById("room"));
  if (room.removed || room.ended) {
    badge.hidden = true;
    hooks.finish(room.removed ? "removed" : "class-ended");
    return false;
  }
  if (room.code) hooks.recode(room.code);
  const you = room.you || {};
  const onScreen = you.state === "presenting" || (Boolean(room.presenting) && room.presenting === hooks.session());
  const state = onScreen ? "presenting" : you.state || "waiting";
  badge.hidden = false;
  badge.dataset.presenting = String(onScreen);
  badge.dataset.state = state;
  const t = hooks.t || english;
  const name = you.name ? `🙂 ${you.name} · ` : "";
  const [icon, key] = ROOM_STATES[state] || ROOM_STATES.waiting;
  badge.textContent = `${name}${icon} ${t(key)}`;
  const words = /** @type {HTMLElement} */ (document.getElementById("room-words"));
  const theme = room.theme ? `${THEME_ICONS[room.theme] || THEME_ICON_OTHER} ${hooks.title(room.theme)}` : "";
  const what = theme || (room.words ? `🔤 ${room.words}` : "");
  const quiet = room.speech_muted ? `${what ? " · " : ""}🔇 ${t("quiet_class")}` : "";
  words.textContent = `${what ? t("room_looking", { what }) : ""}${quiet}`;
  words.hidden = !words.textContent;
  return true;
}
