// The drawing experience both drawing pages share: `qdretrain serve`'s page (serve/static/app.js) and
// the static web export (android_export/web/app.js, which ships a copy of this file). One drawing pad
// that records strokes in Quick, Draw!'s [[xs], [ys]] form on a 256-unit canvas, undo and clear, and the
// top-k list; each page only decides how a drawing is classified.

export const CANVAS_UNITS = 256;  // Quick, Draw!'s coordinate space

// A pad on `canvas`; `onChange()` runs after every finished stroke, undo and clear.
export function createPad(canvas, onChange) {
  const ink = canvas.getContext("2d");
  const pad = { strokes: [], current: null };

  function unitsOf(event) {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * CANVAS_UNITS / box.width,
            (event.clientY - box.top) * CANVAS_UNITS / box.height];
  }
  pad.redraw = () => {
    const k = canvas.width / CANVAS_UNITS;
    ink.clearRect(0, 0, canvas.width, canvas.height);
    ink.lineWidth = 6; ink.lineCap = "round"; ink.lineJoin = "round"; ink.strokeStyle = "#111";
    for (const [xs, ys] of pad.strokes.concat(pad.current ? [pad.current] : [])) {
      ink.beginPath();
      ink.moveTo(xs[0] * k, ys[0] * k);
      for (let i = 1; i < xs.length; i++) ink.lineTo(xs[i] * k, ys[i] * k);
      if (xs.length === 1) ink.lineTo(xs[0] * k + 0.1, ys[0] * k);
      ink.stroke();
    }
  };
  canvas.addEventListener("pointerdown", (event) => {
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = unitsOf(event);
    pad.current = [[x], [y]];
    pad.redraw();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!pad.current) return;
    const [x, y] = unitsOf(event);
    pad.current[0].push(x); pad.current[1].push(y);
    pad.redraw();
  });
  function endStroke() {
    if (!pad.current) return;
    // One decimal in canvas units: what the server's JSON and the collected .ndjson keep.
    pad.strokes.push(pad.current.map((values) => values.map((v) => Math.round(v * 10) / 10)));
    pad.current = null;
    pad.redraw();
    onChange();
  }
  canvas.addEventListener("pointerup", endStroke);
  canvas.addEventListener("pointercancel", endStroke);
  pad.undo = () => { pad.strokes.pop(); pad.redraw(); onChange(); };
  pad.clear = () => { pad.strokes = []; pad.redraw(); onChange(); };
  return pad;
}

// The top-k list: label, a bar and the score in per cent.
export function showTop(list, top) {
  list.replaceChildren(...top.map(({ label, score }) => {
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
}

export function clearAnswer() {
  document.getElementById("top").replaceChildren();
  document.getElementById("latency").textContent = "Draw something.";
  document.getElementById("input").removeAttribute("src");
}

export function showError(text) { document.getElementById("error").textContent = text || ""; }
