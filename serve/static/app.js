// The drawing page: strokes in Quick, Draw!'s [[xs], [ys]] form on a 256-unit canvas, sent to
// POST /classify after every stroke; no libraries, works offline.
"use strict";
const CANVAS_UNITS = 256;  // Quick, Draw!'s coordinate space
const pad = document.getElementById("pad");
const ink = pad.getContext("2d");
const state = { strokes: [], current: null, labels: [], request: 0 };

function unitsOf(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * CANVAS_UNITS / box.width,
          (event.clientY - box.top) * CANVAS_UNITS / box.height];
}

function redraw() {
  const k = pad.width / CANVAS_UNITS;
  ink.clearRect(0, 0, pad.width, pad.height);
  ink.lineWidth = 6; ink.lineCap = "round"; ink.lineJoin = "round"; ink.strokeStyle = "#111";
  for (const [xs, ys] of state.strokes.concat(state.current ? [state.current] : [])) {
    ink.beginPath();
    ink.moveTo(xs[0] * k, ys[0] * k);
    for (let i = 1; i < xs.length; i++) ink.lineTo(xs[i] * k, ys[i] * k);
    if (xs.length === 1) ink.lineTo(xs[0] * k + 0.1, ys[0] * k);
    ink.stroke();
  }
}

pad.addEventListener("pointerdown", (event) => {
  pad.setPointerCapture(event.pointerId);
  const [x, y] = unitsOf(event);
  state.current = [[x], [y]];
  redraw();
});
pad.addEventListener("pointermove", (event) => {
  if (!state.current) return;
  const [x, y] = unitsOf(event);
  state.current[0].push(x); state.current[1].push(y);
  redraw();
});
function endStroke() {
  if (!state.current) return;
  state.strokes.push(state.current.map((values) => values.map((v) => Math.round(v * 10) / 10)));
  state.current = null;
  redraw();
  classify();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);

function showError(text) { document.getElementById("error").textContent = text || ""; }

async function postJSON(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showAnswer(result) {
  const list = document.getElementById("top");
  list.replaceChildren(...result.top.map(({ label, score }) => {
    const item = document.createElement("li");
    const name = document.createElement("span"); name.className = "label"; name.textContent = label;
    const bar = document.createElement("span"); bar.className = "bar";
    const fill = document.createElement("span"); fill.style.width = `${(score * 100).toFixed(1)}%`;
    bar.append(fill);
    const value = document.createElement("span"); value.className = "score";
    value.textContent = `${(score * 100).toFixed(1)}%`;
    item.append(name, bar, value);
    return item;
  }));
  document.getElementById("latency").textContent =
    `${result.artifact}: ${result.latency_ms.toFixed(1)} ms in the model`;
  document.getElementById("input").src = `data:image/png;base64,${result.input_png}`;
}

function clearAnswer() {
  document.getElementById("top").replaceChildren();
  document.getElementById("latency").textContent = "Draw something.";
  document.getElementById("input").removeAttribute("src");
}

async function classify() {
  const ticket = ++state.request;  // answers to older drawings are dropped
  if (!state.strokes.length) { clearAnswer(); return; }
  try {
    const result = await postJSON("/classify", { strokes: state.strokes,
                                                 artifact: document.getElementById("artifact").value });
    if (ticket === state.request) { showAnswer(result); showError(""); }
  } catch (error) { if (ticket === state.request) showError(error.message); }
}

document.getElementById("undo").addEventListener("click", () => { state.strokes.pop(); redraw(); classify(); });
document.getElementById("clear").addEventListener("click", () => {
  state.strokes = []; redraw(); classify(); document.getElementById("collected").textContent = "";
});
document.getElementById("artifact").addEventListener("change", classify);
document.getElementById("correct").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!state.strokes.length) { showError("Draw something first."); return; }
  try {
    const label = document.getElementById("label").value;
    const saved = await postJSON("/collect", { strokes: state.strokes, label });
    document.getElementById("collected").textContent = `Saved as a "${saved.label}" drawing in ${saved.path}`;
    showError("");
  } catch (error) { showError(error.message); }
});

function option(value) { const o = document.createElement("option"); o.value = o.textContent = value; return o; }

async function start() {
  const info = await (await fetch("/model")).json();
  state.labels = info.labels;
  document.getElementById("model-name").textContent =
    `${info.architecture} · ${info.labels.length} labels · ${info.input_width}x${info.input_height} input`;
  const artifacts = document.getElementById("artifact");
  artifacts.replaceChildren(...info.artifacts.map(option));
  artifacts.value = info.default_artifact;
  document.getElementById("label").replaceChildren(...info.labels.map(option));
  document.getElementById("correct").hidden = !info.collect;
  redraw();
  document.body.dataset.ready = "1";
}
start().catch((error) => showError(`Cannot reach the server: ${error.message}`));
