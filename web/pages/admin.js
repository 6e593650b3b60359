/**
 * The admin page (/admin), admin teachers only: open phone sessions, screens, rooms, detection
 * workers and the photo library's size (GET /api/admin, refreshed every 2 s), and deleting every
 * photo (POST /api/admin/delete-all with {"confirm": "delete all"}).
 */
import { api } from "../js/api.js";
import { showDemoBadge } from "../js/demo.js";
import { byId as $ } from "../js/dom.js";

const POLL_MS = 2000;

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = String(text);
  row.append(td);
}

function items(list, texts) {
  $(list).replaceChildren(
    ...texts.map((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }),
  );
}

function megabytes(bytes) {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function render(data) {
  const { sessions, viewers, rooms, workers, storage } = data;
  $("session-count").textContent = `(${sessions.count} of ${sessions.max})`;
  $("sessions").replaceChildren(
    ...sessions.list.map((s) => {
      const row = document.createElement("tr");
      for (const value of [s.id, s.room || "–", s.fps_in, s.fps_out, s.overlay_fps]) cell(row, value);
      return row;
    }),
  );
  $("viewer-count").textContent = `(${viewers.count} of ${viewers.max})`;
  items("viewers", viewers.list.map((v) => `${v.id} watching room ${v.room}`));
  items(
    "rooms",
    rooms.map(
      (r) => `${r.code} · ${r.teacher} · ${r.phones.length} phone(s), ${r.viewers} screen(s)` +
        (r.presenter ? ` · ${r.presenter} presents` : ""),
    ),
  );
  $("workers").textContent = workers == null ? "No worker statistics (detection runs in this process)." : JSON.stringify(workers, null, 2);
  $("storage").textContent =
    `${storage.snapshots} of ${storage.max_snapshots} photos, ` +
    `${megabytes(storage.bytes)} of ${megabytes(storage.max_bytes)}`;
}

async function refresh() {
  try {
    render(await api("GET", "/api/admin"));
    $("admin").hidden = false;
    $("denied").hidden = true;
    document.body.dataset.state = "admin";
  } catch (error) {
    if (error.status === 401 || error.status === 403) {
      $("admin").hidden = true;
      $("denied").hidden = false;
      document.body.dataset.state = "denied";
      const text = $("denied-text");
      text.replaceChildren();
      if (error.status === 401) {
        const link = document.createElement("a");
        link.href = "/teacher";
        link.textContent = "teacher page";
        text.append("Log in on the ", link, " first, then come back here.");
      } else {
        text.textContent = "Only an admin teacher may see this page.";
      }
      return false;
    }
    $("admin-error").textContent = `Could not load: ${error.message}`;
  }
  return true;
}

$("delete-all").addEventListener("click", async () => {
  const confirm = $("confirm").value.trim();
  if (confirm !== "delete all") {
    $("admin-error").textContent = "Type “delete all” in the box first.";
    return;
  }
  try {
    const { deleted } = await api("POST", "/api/admin/delete-all", { confirm });
    $("admin-error").textContent = `Deleted ${deleted} photo(s).`;
    $("confirm").value = "";
    await refresh();
  } catch (error) {
    $("admin-error").textContent = `Could not delete: ${error.message}`;
  }
});

async function poll() {
  if (await refresh()) setTimeout(poll, POLL_MS);
}
poll();
showDemoBadge();
