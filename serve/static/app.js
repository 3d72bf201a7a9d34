// The drawing page of `qdretrain serve`: the shared pad (page.js) sends its strokes to POST /classify
// after every stroke; no libraries, works offline.
import { clearAnswer, createPad, showError, showTop } from "./page.js";

const state = { labels: [], request: 0 };
const pad = createPad(document.getElementById("pad"), classify);

async function postJSON(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || response.statusText);
  return data;
}

function showAnswer(result) {
  showTop(document.getElementById("top"), result.top);
  document.getElementById("latency").textContent =
    `${result.artifact}: ${result.latency_ms.toFixed(1)} ms in the model`;
  document.getElementById("input").src = `data:image/png;base64,${result.input_png}`;
}

async function classify() {
  const ticket = ++state.request;  // answers to older drawings are dropped
  if (!pad.strokes.length) { clearAnswer(); return; }
  try {
    const result = await postJSON("/classify", { strokes: pad.strokes,
                                                 artifact: document.getElementById("artifact").value });
    if (ticket === state.request) { showAnswer(result); showError(""); }
  } catch (error) { if (ticket === state.request) showError(error.message); }
}

document.getElementById("undo").addEventListener("click", pad.undo);
document.getElementById("clear").addEventListener("click", () => {
  pad.clear(); document.getElementById("collected").textContent = "";
});
document.getElementById("artifact").addEventListener("change", classify);
document.getElementById("correct").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!pad.strokes.length) { showError("Draw something first."); return; }
  try {
    const label = document.getElementById("label").value;
    const saved = await postJSON("/collect", { strokes: pad.strokes, label });
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
  pad.redraw();
  document.body.dataset.ready = "1";
}
start().catch((error) => showError(`Cannot reach the server: ${error.message}`));
