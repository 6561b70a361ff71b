// psych review: one row at a time. The server holds every decision (a journal on disk); this
// page only shows rows and sends decisions, each with the revision it saw, so two tabs on the
// same file cannot overwrite each other silently (a stale one gets 409 and reloads the row).
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  meta: null,
  entries: new Map(), // line -> {line, status, category, rev}, in input order
  order: [], // lines matching the filters, in input order
  pos: 0,
  rows: new Map(), // line -> the server's view of the row (cache)
  current: null,
  editing: false,
  busy: false,
};
const NONE = "(none)";

async function api(path, options) {
  const response = await fetch(path, { cache: "no-store", ...options });
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = { error: `HTTP ${response.status}` };
  }
  return { status: response.status, body };
}

function notice(text, kind = "info") {
  const box = $("notice");
  box.textContent = text;
  box.className = kind;
  box.hidden = !text;
}

function readHash() {
  return new URLSearchParams(location.hash.slice(1));
}

function writeHash(line) {
  const h = new URLSearchParams();
  if (line != null) h.set("line", line);
  if ($("f-category").value) h.set("category", $("f-category").value);
  if ($("f-status").value) h.set("status", $("f-status").value);
  history.replaceState(null, "", "#" + h.toString());
}

function option(select, value, label) {
  const o = document.createElement("option");
  o.value = value;
  o.textContent = label;
  select.append(o);
}

function setIndex(index) {
  S.entries.clear();
  for (const [line, status, category, rev] of index) {
    S.entries.set(line, { line, status, category, rev });
  }
}

async function start() {
  const { status, body } = await api("/api/state");
  if (status !== 200) return notice(body.error || "cannot load the review", "error");
  S.meta = body;
  $("input").textContent = body.input;
  $("output").textContent = body.output;
  setIndex(body.index);
  const cat = $("f-category");
  option(cat, "", "all");
  for (const c of body.categories) option(cat, c, c);
  option(cat, NONE, NONE);
  const st = $("f-status");
  option(st, "", "all");
  for (const s of body.statuses) option(st, s, s);
  const hash = readHash();
  cat.value = hash.get("category") || "";
  st.value = hash.get("status") || "";
  cat.addEventListener("change", () => refilter());
  st.addEventListener("change", () => refilter());
  showProgress(body.progress);
  if (body.replay.stale) {
    notice(`${body.replay.stale} earlier decision(s) were on rows that have changed in the input since: those rows are unreviewed again.`);
  }
  computeOrder();
  const want = Number(hash.get("line"));
  const at = S.order.indexOf(want);
  S.pos = at >= 0 ? at : Math.max(0, nextUnreviewed(-1));
  await show();
  // Milliseconds from navigation to the first row shown (docs/review.md quotes it).
  document.body.dataset.readyMs = Math.round(performance.now());
  document.body.dataset.ready = "1";
}

function computeOrder() {
  const cat = $("f-category").value;
  const st = $("f-status").value;
  S.order = [];
  for (const e of S.entries.values()) {
    if (cat && (cat === NONE ? e.category !== null : e.category !== cat)) continue;
    if (st && e.status !== st) continue;
    S.order.push(e.line);
  }
}

async function refilter() {
  // The keys work again at once (in a focused select, a letter would pick an option).
  document.activeElement.blur();
  const line = S.current && S.current.line;
  computeOrder();
  const at = S.order.indexOf(line);
  S.pos = at >= 0 ? at : 0;
  await show();
}

// Index in S.order of the next unreviewed row after `from`, wrapping; -1 when there is none.
function nextUnreviewed(from) {
  const n = S.order.length;
  for (let k = 1; k <= n; k++) {
    const i = (from + k + n) % n;
    if (S.entries.get(S.order[i]).status === "unreviewed") return i;
  }
  return -1;
}

async function fetchRow(line) {
  if (S.rows.has(line)) return S.rows.get(line);
  const { status, body } = await api(`/api/rows/${line}`);
  if (status !== 200) throw new Error(body.error || `HTTP ${status}`);
  S.rows.set(line, body);
  return body;
}

function showProgress(p) {
  const pct = (n) => (p.total ? (100 * n) / p.total : 0) + "%";
  $("bar-kept").style.width = pct(p.kept);
  $("bar-edited").style.width = pct(p.edited);
  $("bar-dropped").style.width = pct(p.dropped);
  $("counts").textContent =
    `${p.reviewed} of ${p.total} reviewed · ${p.kept} kept · ${p.edited} edited · ${p.dropped} dropped`;
}

async function show() {
  closeEdit();
  const n = S.order.length;
  $("position").textContent = n ? `row ${S.pos + 1} of ${n}` : "";
  if (!n) {
    S.current = null;
    document.body.dataset.line = "";
    $("line").textContent = "No rows match these filters.";
    for (const id of ["status", "category"]) $(id).textContent = "";
    $("view").replaceChildren();
    $("row-problems").hidden = true;
    $("passage").replaceChildren();
    $("section").textContent = "";
    $("notes-box").hidden = true;
    writeHash(null);
    return;
  }
  const line = S.order[S.pos];
  let view;
  try {
    view = await fetchRow(line);
  } catch (e) {
    return notice(`cannot load line ${line}: ${e.message}`, "error");
  }
  if (S.order[S.pos] !== line) return; // navigated on meanwhile
  S.current = view;
  render(view);
  writeHash(line);
  const next = S.order[S.pos + 1];
  if (next !== undefined && !S.rows.has(next)) fetchRow(next).catch(() => {});
}

function currentRow(view) {
  return view.edited || view.row;
}

function fieldNames(row) {
  const names = [...S.meta.fields];
  for (const k of Object.keys(row)) if (!names.includes(k)) names.push(k);
  return names;
}

function render(view) {
  const row = currentRow(view);
  $("line").textContent = `line ${view.line}`;
  const status = $("status");
  status.textContent = view.status;
  status.className = `badge ${view.status}`;
  $("category").textContent = typeof row.category === "string" ? row.category : "no category";
  const dl = $("view");
  dl.replaceChildren();
  for (const name of fieldNames(row)) {
    if (name === "category") continue;
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.dataset.field = name;
    const value = row[name];
    if (value === undefined) {
      dd.textContent = "(absent)";
      dd.className = "absent";
    } else if (typeof value === "string") {
      dd.textContent = value === "" ? "(empty)" : value;
      if (value === "") dd.className = "absent";
    } else {
      dd.textContent = JSON.stringify(value);
    }
    if (view.edited && JSON.stringify(view.row[name]) !== JSON.stringify(value)) {
      dt.append(" (edited)");
      dd.classList.add("changed");
      const was = document.createElement("div");
      was.className = "was";
      was.textContent = view.row[name] === undefined ? "was absent" : `was: ${view.row[name]}`;
      dd.append(was);
    }
    dl.append(dt, dd);
  }
  const problems = $("row-problems");
  problems.replaceChildren(...view.problems.map(li));
  problems.hidden = !view.problems.length || !!view.edited;
  renderSource(view, row);
  document.body.dataset.line = view.line;
  document.body.dataset.status = view.status;
}

function li(text) {
  const item = document.createElement("li");
  item.textContent = text;
  return item;
}

// A book's Markdown emphasis (**term**, *term*) shown as such; everything else as plain text
// (nodes, never HTML: the book's text cannot inject markup).
const EMPHASIS = /\*\*([^*\n]+)\*\*|(?<![*\w])\*([^*\n]+)\*(?![*\w])/g;

function richText(text) {
  const nodes = [];
  let last = 0;
  for (const m of text.matchAll(EMPHASIS)) {
    nodes.push(text.slice(last, m.index));
    const el = document.createElement(m[1] !== undefined ? "strong" : "em");
    el.textContent = m[1] !== undefined ? m[1] : m[2];
    nodes.push(el);
    last = m.index + m[0].length;
  }
  nodes.push(text.slice(last));
  return nodes;
}

function renderSource(view, row) {
  const src = view.source || {};
  $("section").textContent = src.section ? `· ${src.section}` : "";
  const box = $("passage");
  box.replaceChildren();
  if (!src.passage) {
    box.className = "empty";
    box.textContent = "No passage for this row.";
  } else {
    box.className = "";
    // The row's input, when quoted from the passage, is marked where it stands.
    const text = src.passage;
    const needle = typeof row.input === "string" ? row.input.trim() : "";
    const at = needle.length > 20 ? text.indexOf(needle) : -1;
    if (at < 0) {
      box.append(...richText(text));
    } else {
      const mark = document.createElement("mark");
      mark.append(...richText(needle));
      box.append(...richText(text.slice(0, at)), mark, ...richText(text.slice(at + needle.length)));
    }
  }
  const notes = src.notes || [];
  $("notes").replaceChildren(...notes.map(li));
  $("notes-box").hidden = !notes.length;
}

function update(view, progress) {
  S.rows.set(view.line, view);
  const row = currentRow(view);
  const e = S.entries.get(view.line);
  e.status = view.status;
  e.rev = view.rev;
  e.category = typeof row.category === "string" ? row.category : null;
  if (progress) showProgress(progress);
}

async function decide(action, row) {
  const view = S.current;
  if (!view || S.busy) return;
  S.busy = true;
  try {
    const { status, body } = await api(`/api/rows/${view.line}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ action, base: view.rev, sha: view.sha, row }),
    });
    if (status === 200) {
      notice("");
      update(body.row, body.progress);
      if (action !== "reset" && S.pos < S.order.length - 1) S.pos += 1;
      else if (action !== "reset") notice("That was the last row in this list.");
      await show();
    } else if (status === 409) {
      update(body.row, body.progress);
      await show();
      notice(`Not saved: ${body.error}. This row was changed in another tab and has been reloaded; decide again.`, "error");
    } else if (status === 422) {
      const target = S.editing ? $("edit-problems") : $("row-problems");
      target.replaceChildren(...body.problems.map(li));
      target.hidden = false;
      notice(S.editing ? "Not saved: the edited row breaks the schema." : "Not kept: the row breaks the schema; edit it or drop it.", "error");
    } else {
      notice(`Not saved: ${body.error}`, "error");
    }
  } catch (e) {
    notice(`Not saved: the server did not answer (${e.message}). Restart psych review; decisions so far are kept.`, "error");
  } finally {
    S.busy = false;
  }
}

function openEdit() {
  const view = S.current;
  if (!view) return;
  const row = currentRow(view);
  const box = $("edit-fields");
  box.replaceChildren();
  const required = new Set(S.meta.required);
  for (const name of fieldNames(row)) {
    const label = document.createElement("label");
    label.textContent = name;
    let input;
    if (name === "category") {
      input = document.createElement("select");
      if (!required.has(name)) option(input, "", NONE);
      for (const c of S.meta.categories) option(input, c, c);
      if (typeof row.category === "string" && !S.meta.categories.includes(row.category)) {
        option(input, row.category, `${row.category} (not in the schema)`);
      }
      input.value = typeof row.category === "string" ? row.category : "";
    } else {
      input = document.createElement("textarea");
      const value = row[name];
      input.value = value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
      input.rows = Math.min(14, Math.max(2, Math.ceil(input.value.length / 90) + 1));
    }
    input.name = name;
    label.append(input);
    box.append(label);
  }
  $("edit-problems").hidden = true;
  $("edit").hidden = false;
  $("view").hidden = true;
  $("actions").hidden = true;
  S.editing = true;
  const first = box.querySelector("textarea, select");
  if (first) first.focus();
}

function closeEdit() {
  // Out of the hidden form at once: a key pressed next must not land in one of its fields.
  if ($("edit").contains(document.activeElement)) document.activeElement.blur();
  $("edit").hidden = true;
  $("view").hidden = false;
  $("actions").hidden = false;
  S.editing = false;
}

function editedRow() {
  const original = currentRow(S.current);
  const row = {};
  for (const el of $("edit-fields").querySelectorAll("textarea, select")) {
    const name = el.name;
    // A field the row did not have stays absent when left empty (category "(none)" too).
    if (el.value === "" && !(name in original) && !S.meta.required.includes(name)) continue;
    if (name === "category" && el.value === "") continue;
    row[name] = el.value;
  }
  return row;
}

function move(step) {
  if (S.busy) return; // a decision in flight moves on by itself
  const n = S.order.length;
  if (!n) return;
  const to = S.pos + step;
  if (to < 0 || to >= n) return notice(to < 0 ? "This is the first row." : "This is the last row.");
  notice("");
  S.pos = to;
  show();
}

function jumpUnreviewed() {
  if (S.busy) return;
  const i = nextUnreviewed(S.pos);
  if (i < 0) return notice("No unreviewed rows in this list.");
  notice("");
  S.pos = i;
  show();
}

const KEYS = {
  k: () => decide("keep"),
  d: () => decide("drop"),
  e: () => openEdit(),
  b: () => move(-1),
  ArrowLeft: () => move(-1),
  n: () => move(1),
  ArrowRight: () => move(1),
  u: () => jumpUnreviewed(),
  r: () => decide("reset"),
};

document.addEventListener("keydown", (ev) => {
  if (S.editing) {
    if (ev.key === "Escape") {
      ev.preventDefault();
      closeEdit();
    } else if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      decide("edit", editedRow());
    }
    return;
  }
  const inField = ev.target instanceof Element && ev.target.closest("select, input, textarea");
  if (ev.ctrlKey || ev.metaKey || ev.altKey || inField) return;
  const act = KEYS[ev.key];
  // A held-down key repeats navigation, never a decision (holding k must not keep a page).
  if (ev.repeat && "kdre".includes(ev.key)) return;
  if (act) {
    ev.preventDefault();
    act();
  }
});

$("actions").addEventListener("click", (ev) => {
  const button = ev.target.closest("button[data-key]");
  if (button) KEYS[button.dataset.key]();
});
$("edit").addEventListener("submit", (ev) => {
  ev.preventDefault();
  decide("edit", editedRow());
});
$("edit-cancel").addEventListener("click", () => closeEdit());

// Back to this tab: another tab may have decided meanwhile; show the server's state.
document.addEventListener("visibilitychange", async () => {
  if (document.visibilityState !== "visible" || !S.meta || S.editing) return;
  const { status, body } = await api("/api/state");
  if (status !== 200) return;
  setIndex(body.index);
  showProgress(body.progress);
  S.rows.clear();
  if (S.current) await show();
});

start();
