/**
 * The photo library (/library), teacher only: the photos children took with 📸 in the
 * teacher's class rooms (an admin sees every class), grouped by room (GET /api/snapshots/rooms),
 * each room a page at a time (GET /api/snapshots?room=CODE&offset=N). Per room: "Download all"
 * (one zip, GET /api/snapshots/rooms/CODE/photos.zip) and "Delete all", which asks first
 * (POST /api/snapshots/rooms/CODE/delete {"confirm": "delete all"}); per photo: delete.
 * Not logged in: a link to the teacher page.
 */
import { api } from "../js/api.js";
import { showDemoBadge } from "../js/demo.js";
import { byId as $ } from "../js/dom.js";

const PAGE = 24;
let total = 0;

function show(section) {
  for (const id of ["login", "library"]) $(id).hidden = id !== section;
  document.body.dataset.state = section;
}

function summary() {
  $("summary").textContent = total === 0 ? "No photos yet: children in your class save them with 📸." : `${total} photo(s)`;
}

/** @param {string} text @returns {string} a date the teacher reads, or the text as it came */
function when(text) {
  const time = new Date(text);
  return isNaN(time.getTime()) ? text : time.toLocaleString();
}

/** One room's group: its photos, a page at a time, and its two buttons. */
class RoomGroup {
  /** @param {{room: string | null, teacher: string | null, count: number}} room */
  constructor(room) {
    this.room = room;
    this.count = room.count;
    this.next = 0;
    const template = /** @type {HTMLTemplateElement} */ ($("room-template"));
    this.element = /** @type {HTMLElement} */ (template.content.firstElementChild.cloneNode(true));
    this.element.dataset.room = room.room || "";
    this.part = (name) => /** @type {any} */ (this.element.querySelector(`.${name}`));
    this.title();
    const code = room.room;
    const download = this.part("download");
    if (code) {
      download.href = `/api/snapshots/rooms/${encodeURIComponent(code)}/photos.zip`;
      download.setAttribute("aria-label", `Download all photos of room ${code}`);
    } else {
      download.hidden = true; // photos from before rooms were recorded: one by one only
      this.part("delete-all").hidden = true;
    }
    this.part("delete-all").addEventListener("click", () => this.askDeleteAll());
    this.part("confirm-no").addEventListener("click", () => (this.part("confirm").hidden = true));
    this.part("confirm-yes").addEventListener("click", () => this.deleteAll());
    this.part("more").addEventListener("click", () => this.load());
  }

  title() {
    const name = this.room.room ? `Room ${this.room.room}` : "Photos without a room";
    const owner = this.room.teacher ? ` · ${this.room.teacher}` : "";
    this.part("room-title").textContent = `${name}${owner} · ${this.count} photo(s)`;
  }

  askDeleteAll() {
    this.part("confirm-text").textContent = `Delete all ${this.count} photo(s) of room ${this.room.room}? This cannot be undone.`;
    this.part("confirm").hidden = false;
    this.part("confirm-no").focus();
  }

  async deleteAll() {
    const yes = this.part("confirm-yes");
    yes.disabled = true;
    try {
      const answer = await api("POST", `/api/snapshots/rooms/${encodeURIComponent(this.room.room || "")}/delete`, { confirm: "delete all" });
      total = Math.max(0, total - answer.deleted);
      this.element.remove();
      summary();
    } catch (error) {
      $("library-error").textContent = `Could not delete the photos: ${error.message}`;
    } finally {
      yes.disabled = false;
      this.part("confirm").hidden = true;
    }
  }

  async load() {
    const more = this.part("more");
    more.disabled = true;
    const room = this.room.room ? `&room=${encodeURIComponent(this.room.room)}` : "";
    try {
      const page = await api("GET", `/api/snapshots?offset=${this.next}&limit=${PAGE}${room}`);
      // photos without a room come from the unfiltered list: keep only theirs
      const photos = this.room.room ? page.snapshots : page.snapshots.filter((s) => !s.room);
      for (const snapshot of photos) this.part("grid").append(this.card(snapshot));
      this.next = page.next == null ? this.next + page.snapshots.length : page.next;
      more.hidden = page.next == null;
      $("library-error").textContent = "";
    } catch (error) {
      $("library-error").textContent = `Could not load the photos: ${error.message}`;
    } finally {
      more.disabled = false;
    }
  }

  card(snapshot) {
    const item = document.createElement("li");
    item.dataset.id = String(snapshot.id);
    const image = document.createElement("img");
    image.src = snapshot.url;
    image.loading = "lazy";
    const labels = snapshot.labels.length ? snapshot.labels.join(", ") : "nothing found";
    image.alt = `Photo ${snapshot.id}: ${labels}`;
    const link = document.createElement("a");
    link.href = snapshot.url;
    link.target = "_blank";
    link.rel = "noopener";
    link.append(image);
    const meta = document.createElement("div");
    meta.className = "meta";
    const names = document.createElement("div");
    names.className = "labels";
    names.textContent = labels;
    const time = document.createElement("div");
    time.className = "when";
    time.textContent = when(snapshot.created_at);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "big";
    remove.textContent = "🗑 Delete";
    remove.setAttribute("aria-label", `Delete photo ${snapshot.id}`);
    remove.addEventListener("click", async () => {
      if (!confirm("Delete this photo?")) return;
      remove.disabled = true;
      try {
        await api("POST", `/api/snapshots/${snapshot.id}/delete`, {});
        item.remove();
        total = Math.max(0, total - 1);
        this.count = Math.max(0, this.count - 1);
        this.next = Math.max(0, this.next - 1);
        if (this.count === 0) this.element.remove();
        else this.title();
        summary();
      } catch (error) {
        remove.disabled = false;
        $("library-error").textContent = `Could not delete: ${error.message}`;
      }
    });
    meta.append(names, time, remove);
    item.append(link, meta);
    return item;
  }
}

async function start() {
  try {
    const answer = await api("GET", "/api/snapshots/rooms");
    show("library");
    total = answer.rooms.reduce((sum, room) => sum + room.count, 0);
    summary();
    for (const room of answer.rooms) {
      const group = new RoomGroup(room);
      $("rooms").append(group.element);
      group.load();
    }
  } catch (error) {
    if (error.status === 401) {
      show("login");
      return;
    }
    show("library");
    $("library-error").textContent = `Could not load the photos: ${error.message}`;
  }
}

start();
showDemoBadge();
