// aelab serve: the runs table, curves and pictures of chosen runs, the latent explorer and the index search.
// Plain JavaScript over the page's JSON API (aelab/web/app.py); Plotly draws the plots.
"use strict";

const state = { runs: [], metrics: [], sort: { key: "id", dir: 1 }, chosen: new Set(), timer: null,
                explore: null, picked: [], last: null };
const $ = (id) => document.getElementById(id);

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json().catch(() => ({ error: `the server answered ${response.status}` }));
  if (!response.ok) throw new Error(body.error || `the server answered ${response.status}`);
  return body;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function text(tag, content, cls) {
  const el = document.createElement(tag);
  el.textContent = content;
  if (cls) el.className = cls;
  return el;
}

function fmt(v) {
  if (typeof v !== "number") return v ?? "";
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(3) : v.toPrecision(4);
}

function wall(seconds) {
  return seconds < 120 ? `${seconds.toFixed(0)} s` : `${(seconds / 60).toFixed(1)} min`;
}

// ------------------------------------------------------------------------------------------ the runs table

async function loadRuns() {
  const body = await api("/api/runs");
  state.runs = body.runs;
  state.metrics = body.metrics;
  $("root").textContent = `runs in ${body.root}`;
  if (body.search) {
    $("tab-search").hidden = false;
    const s = body.search;
    $("search-about").textContent = `${s.items} ${s.kind} in ${s.index}, ${s.bits}-bit codes of ${s.model} (${s.run})`;
    $("search-text-field").hidden = s.kind !== "documents";
    $("search-image-fields").hidden = s.kind === "documents";
  }
  drawRuns();
  fillExploreChoices();
}

function sortValue(run, key) {
  if (key.startsWith("m:")) return run.metrics[key.slice(2)] ?? null;
  return run[key];
}

function drawRuns() {
  const columns = [["", ""], ["id", "run"], ["model", "model"], ["data", "data"], ["status", "status"],
                   ["wall_s", "wall time"], ...state.metrics.map((m) => ["m:" + m, m])];
  const head = document.createElement("tr");
  for (const [key, label] of columns) {
    const th = text("th", label);
    th.dataset.key = key;
    if (key && state.sort.key === key) th.className = state.sort.dir > 0 ? "sorted-asc" : "sorted-desc";
    if (key) th.addEventListener("click", () => {
      state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
      drawRuns();
    });
    head.appendChild(th);
  }
  $("runs-table").tHead.replaceChildren(head);
  const { key, dir } = state.sort;
  const rows = [...state.runs].sort((a, b) => {
    const x = sortValue(a, key), y = sortValue(b, key);
    if (x === y) return 0;
    if (x === null || x === undefined) return 1;
    if (y === null || y === undefined) return -1;
    return (x < y ? -1 : 1) * dir;
  });
  const body = $("runs-table").tBodies[0];
  body.replaceChildren(...rows.map((run) => {
    const tr = document.createElement("tr");
    tr.dataset.id = run.id;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.checked = state.chosen.has(run.id);
    box.addEventListener("change", () => {
      if (box.checked) state.chosen.add(run.id); else state.chosen.delete(run.id);
      compare();
    });
    const first = document.createElement("td");
    first.appendChild(box);
    tr.appendChild(first);
    tr.appendChild(text("td", run.id));
    tr.appendChild(text("td", run.model));
    tr.appendChild(text("td", run.data));
    const status = text("td", run.status, "status-" + run.status);
    if (run.error) status.title = run.error;
    tr.appendChild(status);
    tr.appendChild(text("td", wall(run.wall_s), "num"));
    for (const m of state.metrics) tr.appendChild(text("td", fmt(run.metrics[m]), "num"));
    return tr;
  }));
}

// ------------------------------------------------------------------------------------------ comparing runs

async function compare() {
  const ids = [...state.chosen];
  $("compare").hidden = ids.length === 0;
  clearTimeout(state.timer);
  if (!ids.length) return;
  try {
    const curves = await Promise.all(ids.map((id) => api(`/api/run/curves?id=${encodeURIComponent(id)}`)));
    const names = [...new Set(curves.flatMap((c) => Object.keys(c.series)))].sort(
      (a, b) => (a.startsWith("test") ? 0 : 1) - (b.startsWith("test") ? 0 : 1) || a.localeCompare(b));
    const select = $("metric");
    const keep = select.value;
    select.replaceChildren(...names.map((n) => { const o = text("option", n); o.value = n; return o; }));
    if (names.includes(keep)) select.value = keep;
    const metric = select.value;
    const traces = ids.map((id, k) => {
      const s = curves[k].series[metric] || { epoch: [], value: [] };
      return { x: s.epoch, y: s.value, name: id, mode: "lines+markers", type: "scatter" };
    });
    await Plotly.react("curves", traces, { title: { text: metric }, xaxis: { title: { text: "epoch" } },
                                           margin: { t: 40 }, legend: { orientation: "h" } });
    const through = await api(`/api/compare/images?ids=${ids.map(encodeURIComponent).join(",")}`);
    $("through").replaceChildren(...through.rows.map((row) => {
      const fig = document.createElement("figure");
      fig.appendChild(text("figcaption", row.label));
      if (row.image) { const img = document.createElement("img"); img.src = row.image; img.alt = row.label; fig.appendChild(img); }
      return fig;
    }));
    showError(null);
  } catch (error) { showError(error); }
  const running = state.runs.some((r) => state.chosen.has(r.id) && r.status === "running");
  if (running) state.timer = setTimeout(async () => { await loadRuns().catch(showError); compare(); }, 3000);
}

// ------------------------------------------------------------------------------------------ the latent explorer

function fillExploreChoices() {
  const select = $("explore-run");
  const keep = select.value;
  select.replaceChildren(text("option", "(choose a run)"), ...state.runs.map((r) => {
    const o = text("option", `${r.id} (${r.model})`); o.value = r.id; return o;
  }));
  select.firstChild.value = "";
  if (keep) select.value = keep;
}

async function explore(id) {
  state.explore = id; state.picked = []; state.last = null;
  for (const part of ["interp", "restore", "samples"]) $(part).hidden = true;
  $("hovered").textContent = "Hover over a point to see its item; click two points to interpolate.";
  if (!id) return;
  try {
    const map = await api(`/api/run/map?id=${encodeURIComponent(id)}`);
    const labels = [...new Set(map.label)];
    const traces = labels.map((label) => {
      const rows = map.index.filter((_, k) => map.label[k] === label);
      return { x: rows.map((k) => map.x[k]), y: rows.map((k) => map.y[k]), customdata: rows, name: label || "items",
               mode: "markers", type: "scatter", marker: { size: 6 }, hoverinfo: "name" };
    });
    Plotly.purge("map");  // the last run's map and its event handlers go
    await Plotly.newPlot("map", traces, { xaxis: { title: { text: map.axes[0] } }, yaxis: { title: { text: map.axes[1] || "" } },
                                          margin: { t: 20 }, hovermode: "closest" });
    const plot = $("map");
    plot.on("plotly_hover", (event) => hover(event.points[0].customdata));
    plot.on("plotly_click", (event) => pick(event.points[0].customdata, map.can));
    $("sample-button").hidden = !map.can.sample;
    plot.dataset.run = id;  // drawn and listening
    showError(null);
  } catch (error) { showError(error); }
}

async function hover(i) {
  try {
    const item = await api(`/api/run/item?id=${encodeURIComponent(state.explore)}&i=${i}`);
    const box = $("hovered");
    box.replaceChildren(text("div", `item ${item.index}${item.label ? " · " + item.label : ""}`));
    if (item.image) { const img = document.createElement("img"); img.src = item.image; img.id = "hovered-image"; box.appendChild(img); }
    if (item.text !== undefined) box.appendChild(text("p", item.text || "(no words)"));
  } catch (error) { showError(error); }
}

async function pick(i, can) {
  state.last = i;
  if (can.restore) await restore(i);
  if (!can.interpolate) return;
  state.picked = [...state.picked, i].slice(-2);
  if (state.picked.length < 2) { $("hovered").prepend(text("div", `picked item ${i}: click another point`, "meta")); return; }
  const [a, b] = state.picked;
  try {
    const result = await api(`/api/run/interpolate?id=${encodeURIComponent(state.explore)}&a=${a}&b=${b}&steps=10`);
    state.frames = result.frames;
    $("interp").hidden = false;
    $("interp-ends").textContent = `item ${a} to item ${b}`;
    const slider = $("interp-slider");
    slider.max = String(result.frames.length - 1);
    slider.value = "0";
    $("interp-frame").src = result.frames[0];
  } catch (error) { showError(error); }
}

async function restore(i) {
  try {
    const pair = await api(`/api/run/restore?id=${encodeURIComponent(state.explore)}&i=${i}`);
    $("restore").hidden = false;
    $("restore-what").textContent = `item ${i}, ${pair.corruption}`;
    $("restore-before").src = pair.before;
    $("restore-after").src = pair.after;
    clip();
  } catch (error) { showError(error); }
}

function clip() {
  const share = Number($("restore-slider").value);
  $("restore-before").style.clipPath = `inset(0 ${100 - share}% 0 0)`;  // corrupted on the left, restored on the right
}

// ------------------------------------------------------------------------------------------ search

async function search(event) {
  event.preventDefault();
  const form = new FormData($("search-form"));
  if (!$("search-image").files.length) form.delete("image");
  try {
    const found = await api("/api/search", { method: "POST", body: form });
    $("search-took").textContent = `${found.hits.length} hits for ${found.query} (${found.how}) in ${found.ms} ms`;
    $("search-results").tBodies[0].replaceChildren(...found.hits.map((hit) => {
      const tr = document.createElement("tr");
      tr.appendChild(text("td", hit.id, "num"));
      tr.appendChild(text("td", hit.distance, "num"));
      tr.appendChild(text("td", hit.label ?? ""));
      const cell = text("td", hit.text ?? hit.file ?? "");
      if (hit.image) { const img = document.createElement("img"); img.src = hit.image; cell.prepend(img); }
      tr.appendChild(cell);
      return tr;
    }));
    showError(null);
  } catch (error) { showError(error); }
}

// ------------------------------------------------------------------------------------------ wiring

for (const tab of document.querySelectorAll("nav .tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll("nav .tab")) t.classList.toggle("active", t === tab);
    for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== "view-" + tab.dataset.view;
    if (tab.dataset.view === "explore" && state.explore) Plotly.Plots.resize("map");
  });
}
$("metric").addEventListener("change", compare);
$("explore-run").addEventListener("change", (e) => explore(e.target.value));
$("interp-slider").addEventListener("input", (e) => { $("interp-frame").src = state.frames[Number(e.target.value)]; });
$("restore-slider").addEventListener("input", clip);
$("sample-button").addEventListener("click", async () => {
  try {
    const seed = Math.floor(Math.random() * 1e6);
    const s = await api(`/api/run/sample?id=${encodeURIComponent(state.explore)}&seed=${seed}`);
    $("samples").hidden = false;
    $("samples-image").src = s.image;
  } catch (error) { showError(error); }
});
$("search-form").addEventListener("submit", search);
loadRuns().catch(showError);
setInterval(async () => {  // the table follows runs that start, finish or diverge; chosen running runs, their curves
  const before = new Map(state.runs.map((r) => [r.id, r.status]));
  await loadRuns().catch(showError);
  const changed = state.runs.some((r) => state.chosen.has(r.id) && before.get(r.id) !== r.status);
  if (changed && state.chosen.size) compare();
}, 5000);
