/**
 * The phone page and a class room: the `room` message drawn in the badge and the room's words
 * (js/room-badge.js), drawn again in new words when the child's language changes; the name box
 * and the "In a class? Type the code" box (js/join.js) shown where they help.
 */

import { bindCodeForm } from "./join.js";
import { renderRoom } from "./room-badge.js";
import { State } from "./states.js";

const byId = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

export class PhoneRoom {
  /**
   * @param {{params: {room?: string}, inRoom: boolean,
   *          t: (key: string, values?: Record<string, string | number>) => string,
   *          finish: (reason: string) => void, session: () => string,
   *          title: (theme: string) => string, limits: () => Record<string, any>}} options
   *          `params`: the offer's (its `room` follows a new code)
   */
  constructor(options) {
    this.options = options;
    /** Whether this page has been in its room (a 404 later means the class has ended). */
    this.joined = false;
    /** @type {object | null} the last `room` message that kept the phone in the room */
    this.last = null;
    // in a room already: the code box is for another class
    if (options.inRoom) byId("room-code-word").dataset.word = "code_other";
    bindCodeForm({
      form: /** @type {HTMLFormElement} */ (byId("code-form")),
      input: /** @type {HTMLInputElement} */ (byId("room-code")),
      error: byId("code-error"),
      limits: options.limits,
      t: options.t,
    });
  }

  /**
   * A `room` message: the badge and the words; removed or ended: stop and say so.
   * @param {any} room
   */
  received(room) {
    const { options } = this;
    const stays = renderRoom(room, {
      finish: options.finish,
      session: options.session,
      title: options.title,
      t: options.t,
      recode: (code) => {
        if (code === options.params.room) return;
        // the teacher gave the room a new code: a reconnect uses it, and so does a reload
        options.params.room = code;
        const url = new URL(location.href);
        url.searchParams.set("room", code);
        history.replaceState(history.state, "", url);
      },
    });
    this.last = stays ? room : null;
    if (stays) this.joined = true;
  }

  /** The child's language changed: the badge shown, in its new words. */
  relabel() {
    if (this.last && !byId("room").hidden) this.received(this.last);
  }

  /**
   * Show the name box before joining a room, and the code box where a code is wanted.
   * @param {string} state
   * @param {{reason?: string} | undefined} detail
   */
  showJoinBoxes(state, detail) {
    const inRoom = this.options.inRoom;
    const reason = (detail && detail.reason) || "";
    const settled = state === State.IDLE || state === State.ERROR || state === State.CAMERA_BLOCKED;
    const finished = ["removed", "class-ended", "no-room"].includes(reason);
    byId("name-box").hidden = !(inRoom && settled && !finished);
    byId("code-form").hidden = !((!inRoom && state === State.IDLE) || (state === State.ERROR && finished));
  }
}
