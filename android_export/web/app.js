// The drawing page of a web export: the `qdretrain serve` page's experience (draw, undo, clear,
// top-5, the exact input image) with everything in the browser: strokes are drawn into the model's
// input by drawing.js (the drawing contract) and classified by model.js (LiteRT.js). No server code:
// any static file server will do, offline.
import { renderDrawing } from "./drawing.js";
import { openModel } from "./model.js";
import { clearAnswer, createPad, showError, showTop } from "./page.js";  // shared with `qdretrain serve`

const TOP_K = 5;
const pad = createPad(document.getElementById("pad"), classify);
// `answers` counts finished classifications and `last` holds the latest (the browser tests read them).
const state = { info: null, model: null, request: 0, answers: 0, last: null,
                get strokes() { return pad.strokes; } };
window.qdretrain = state;

// The model's input as a PNG-backed image: exactly the bytes the model got, one grey level a pixel.
function inputImage(pixels, height, width) {
  const canvas = document.createElement("canvas");
  canvas.width = width; canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < pixels.length; i++) {
    image.data.set([pixels[i], pixels[i], pixels[i], 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  return canvas.toDataURL("image/png");
}

function showAnswer(result) {
  showTop(document.getElementById("top"), result.top);
  document.getElementById("latency").textContent =
    `${state.info.model}: ${result.modelMs.toFixed(1)} ms in the model, ${result.drawMs.toFixed(1)} ms drawing (in your browser)`;
  document.getElementById("input").src = inputImage(result.pixels, state.info.input_height, state.info.input_width);
}

async function classify() {
  const ticket = ++state.request;  // answers to older drawings are dropped
  if (!state.strokes.length) { clearAnswer(); state.last = null; state.answers++; return; }
  try {
    const { info } = state;
    const started = performance.now();
    const pixels = renderDrawing(state.strokes, info.input_height, info.input_width, info.drawing_contract);
    const drawn = performance.now();
    const scores = await state.model.classify(pixels);
    const modelMs = performance.now() - drawn;
    // Highest first; equal scores keep label order (numpy's stable argsort, as the server sorts).
    const order = Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b);
    const top = order.slice(0, Math.min(TOP_K, info.labels.length))
      .map((i) => ({ label: info.labels[i], score: scores[i] }));
    if (ticket !== state.request) return;
    state.last = { top, scores: Array.from(scores), pixels: Array.from(pixels), modelMs, drawMs: drawn - started,
                   strokes: state.strokes.map((s) => s.map((v) => v.slice())) };
    showAnswer({ top, pixels, modelMs, drawMs: drawn - started });
    showError("");
  } catch (error) {
    if (ticket === state.request) showError(`Could not classify: ${error.message}`);
  } finally {
    state.answers++;  // every call, dropped or not: answers === request means the page is idle
  }
}

document.getElementById("undo").addEventListener("click", pad.undo);
document.getElementById("clear").addEventListener("click", pad.clear);

async function start() {
  const response = await fetch("model.json");
  if (!response.ok) throw new Error(`model.json: ${response.status} ${response.statusText}`);
  state.info = await response.json();
  state.model = await openModel(state.info);
  // Since navigation started (performance.now()'s origin): page, runtime and model, ready to classify.
  state.readyMs = performance.now();
  const { info } = state;
  document.getElementById("model-name").textContent =
    `${info.architecture} · ${info.labels.length} labels · ${info.input_width}x${info.input_height} input · LiteRT.js`;
  pad.redraw();
  document.body.dataset.ready = "1";
}
start().catch((error) => {
  document.getElementById("model-name").textContent = "";
  showError(`Cannot load the model: ${error.message}. Serve this folder over http ` +
            "(e.g. `python -m http.server`); browsers do not load WebAssembly from file:// pages.");
});
