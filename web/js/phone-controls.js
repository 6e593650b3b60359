/**
 * The phone's tool buttons, each an icon and a word in the child's language, each tap
 * answered: 🔊 Sound / 🔇 Quiet, ⏸️ Pause / ▶️ Go on, 🔲 Show all (outline every shape in the
 * picture; not the theme menu's 🌈 Everything), 📸 Photo, and the grown-ups' 📊 numbers. Their
 * labels for screen readers and tooltips are in the child's language too (`render()` after a change).
 */

import { savePictureOnPhone } from "./snapshot.js";
import { loadSetting, saveSetting } from "./storage.js";
import { bindToggle } from "./toggles.js";

/**
 * @param {{speaker: import("./speech.js").Speaker, chipBoard: import("./chips.js").ChipBoard,
 *          send: (message: object) => boolean, toast: import("./toast.js").Toast,
 *          t: (key: string, values?: Record<string, string | number>) => string,
 *          live: () => boolean, video: HTMLVideoElement,
 *          inRoom: boolean, statsLine: HTMLElement}} ctx
 */
export function bindControls(ctx) {
  const { speaker, chipBoard, send, toast, t } = ctx;
  const byId = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));

  const speechToggle = bindToggle(byId("speech"), {
    label: () => t("speech_label"),
    initial: speaker.enabled,
    on: () => ({ text: "🔊", word: t("sound"), label: t("speech_on") }),
    off: () => ({ text: "🔇", word: t("quiet"), label: t("speech_off") }),
    onChange: (on) => {
      speaker.setEnabled(on);
      if (on) speaker.unlock();
      saveSetting("speech", on);
      send({ type: "speech", on });
      toast.show(on ? `🔊 ${t("sound")}` : `🔇 ${t("quiet")}`);
    },
  });

  const pauseToggle = bindToggle(byId("pause"), {
    label: () => t("pause"),
    initial: false,
    on: () => ({ text: "▶️", word: t("go_on"), label: t("paused") }),
    off: () => ({ text: "⏸️", word: t("pause"), label: t("pause") }),
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
    label: () => t("show_all_label"),
    initial: false,
    on: () => ({ text: "🔲", word: t("show_all"), label: t("show_all_on") }),
    off: () => ({ text: "🔲", word: t("show_all"), label: t("show_all_label") }),
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
  const labelSnapshot = () => snapshot.setAttribute("aria-label", t(ctx.inRoom ? "photo_class" : "photo_phone"));
  labelSnapshot();
  snapshot.addEventListener("click", async () => {
    if (!ctx.live()) {
      toast.show(`📷 ${t("start_first")}`);
      return;
    }
    if (ctx.inRoom) {
      if (send({ type: "snapshot" })) toast.show(`📸 ${t("photo_saving")}`);
      return;
    }
    if (await savePictureOnPhone(ctx.video)) toast.show(`📸 ${t("photo_on_phone")}`);
    else toast.show(`📷 ${t("no_picture")}`);
  });

  const statsToggle = bindToggle(byId("stats-toggle"), {
    label: () => t("numbers"),
    initial: loadSetting("stats", false),
    on: () => ({ text: "📊", word: t("info"), label: t("numbers_on") }),
    off: () => ({ text: "📊", word: t("info"), label: t("numbers_off") }),
    onChange: (on) => {
      saveSetting("stats", on);
      ctx.statsLine.hidden = !on;
    },
  });
  ctx.statsLine.hidden = !statsToggle.value;

  /** The child's language changed: every control's word, label and tooltip in it. */
  function render() {
    for (const toggle of [speechToggle, pauseToggle, everythingToggle, statsToggle]) toggle.render();
    labelSnapshot();
  }

  return { speechToggle, pauseToggle, everythingToggle, statsToggle, liveMode, applyPause, render };
}
