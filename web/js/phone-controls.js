/**
 * The phone's tool buttons, each an icon and a word in the child's language, each tap
 * answered: 🔊 Sound / 🔇 Quiet, ⏸️ Pause / ▶️ Go on, 🔲 Show all (outline every shape in the
 * picture; not the theme menu's 🌈 Everything), 📸 Photo, and the grown-ups' 📊 numbers.
 */

import { savePictureOnPhone } from "./snapshot.js";
import { loadSetting, saveSetting } from "./storage.js";
import { bindToggle } from "./toggles.js";

/**
 * @param {{speaker: import("./speech.js").Speaker, chipBoard: import("./chips.js").ChipBoard,
 *          send: (message: object) => boolean, toast: import("./toast.js").Toast,
 *          t: (key: string) => string, live: () => boolean, video: HTMLVideoElement,
 *          inRoom: boolean, statsLine: HTMLElement}} ctx
 */
export function bindControls(ctx) {
  const { speaker, chipBoard, send, toast, t } = ctx;
  const byId = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));

  const speechToggle = bindToggle(byId("speech"), {
    label: "Say the names out loud",
    initial: speaker.enabled,
    on: () => ({ text: "🔊", word: t("sound"), label: "Speaking: on" }),
    off: () => ({ text: "🔇", word: t("quiet"), label: "Speaking: off" }),
    onChange: (on) => {
      speaker.setEnabled(on);
      if (on) speaker.unlock();
      saveSetting("speech", on);
      send({ type: "speech", on });
      toast.show(on ? `🔊 ${t("sound")}` : `🔇 ${t("quiet")}`);
    },
  });

  const pauseToggle = bindToggle(byId("pause"), {
    label: "Pause",
    initial: false,
    on: () => ({ text: "▶️", word: t("go_on"), label: "Paused: tap to go on" }),
    off: () => ({ text: "⏸️", word: t("pause"), label: "Pause" }),
    onChange: (paused) => {
      applyPause(paused, true);
      toast.show(paused ? `⏸️ ${t("pause")}` : `▶️ ${t("go_on")}`);
    },
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

  // outline everything in the picture, named where the words match ("something" elsewhere)
  const everythingToggle = bindToggle(byId("everything"), {
    label: "Show all the shapes",
    initial: false,
    on: () => ({ text: "🔲", word: t("show_all"), label: "Showing all the shapes: tap to show only the words" }),
    off: () => ({ text: "🔲", word: t("show_all"), label: "Show all the shapes" }),
    onChange: (on) => {
      send({ type: "mode", mode: liveMode(pauseToggle.value) });
      toast.show(on ? `🔲 ${t("show_all")}` : `🔤 ${t("find")}`);
    },
  });

  /** @param {boolean} paused @returns {"pause" | "everything" | "live"} the `mode` to send */
  function liveMode(paused) {
    if (paused) return "pause";
    return everythingToggle.value ? "everything" : "live";
  }

  // 📸: in a class room the server saves the picture as it is now (with its labels) to the
  // teacher's library; anywhere else it is saved on this phone (a download) and the server keeps
  // nothing (snapshot.js)
  const snapshot = byId("snapshot");
  snapshot.setAttribute("aria-label", ctx.inRoom ? "Take a photo for the class library" : "Save a photo on this phone");
  snapshot.addEventListener("click", async () => {
    if (!ctx.live()) {
      toast.show(`📷 ${t("start_first")}`);
      return;
    }
    if (ctx.inRoom) {
      if (send({ type: "snapshot" })) toast.show("📸 Saving the photo…");
      return;
    }
    if (await savePictureOnPhone(ctx.video)) toast.show("📸 Saved on this phone");
    else toast.show("📷 No picture yet: try again");
  });

  const statsToggle = bindToggle(byId("stats-toggle"), {
    label: "Show numbers",
    initial: loadSetting("stats", false),
    on: { text: "📊", word: "Info", label: "Numbers: on" },
    off: { text: "📊", word: "Info", label: "Numbers: off" },
    onChange: (on) => {
      saveSetting("stats", on);
      ctx.statsLine.hidden = !on;
    },
  });
  ctx.statsLine.hidden = !statsToggle.value;

  return { speechToggle, pauseToggle, everythingToggle, statsToggle, liveMode, applyPause };
}
