/**
 * The photo library (/library), teacher only: the snapshots children took with 📸, newest first,
 * a page at a time (GET /api/snapshots?offset=N), each with its labels and a delete button
 * (POST /api/snapshots/ID/delete, JSON). Not logged in: a link to the teacher page.
 */
import { api } from "./api.js";
import { showDemoBadge } from "./demo.js";

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const PAGE = 24;
let next = 0;
let total = 0;

function show(section) {
  for (const id of ["login", "library"]) $(id).hidden = id !== section;
  document.body.dataset.state = section;
}

function summary() {
  $("summary").textContent = total === 0 ? "No photos yet: children save them with 📸." : `${total} photo(s)`;
}

function card(snapshot) {
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
  const when = document.createElement("div");
  when.className = "when";
  const time = new Date(snapshot.created_at);
  when.textContent = `${isNaN(time.getTime()) ? snapshot.created_at : time.toLocaleString()}${snapshot.room ? ` · room ${snapshot.room}` : ""}`;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.textContent = "🗑 Delete";
  remove.setAttribute("aria-label", `Delete photo ${snapshot.id}`);
  remove.addEventListener("click", async () => {
    if (!confirm("Delete this photo?")) return;
    remove.disabled = true;
    try {
      await api("POST", `/api/snapshots/${snapshot.id}/delete`, {});
      item.remove();
      total = Math.max(0, total - 1);
      next = Math.max(0, next - 1);
      summary();
    } catch (error) {
      remove.disabled = false;
      $("library-error").textContent = `Could not delete: ${error.message}`;
    }
  });
  meta.append(names, when, remove);
  item.append(link, meta);
  return item;
}

async function load() {
  $("more").disabled = true;
  try {
    const page = await api("GET", `/api/snapshots?offset=${next}&limit=${PAGE}`);
    total = page.total;
    for (const snapshot of page.snapshots) $("grid").append(card(snapshot));
    next = page.next == null ? next + page.snapshots.length : page.next;
    $("more").hidden = page.next == null;
    summary();
    $("library-error").textContent = "";
  } catch (error) {
    if (error.status === 401) {
      show("login");
      return;
    }
    $("library-error").textContent = `Could not load the photos: ${error.message}`;
  } finally {
    $("more").disabled = false;
  }
}

$("more").addEventListener("click", load);
show("library");
load();
showDemoBadge();
