// The drawing contract in JavaScript: strokes -> the exact grey pixels the model receives.
//
// A port of convert/drawing.py (render_strokes) and serve/rendering.py (render_drawing) written from
// their documented behaviour, so the web page feeds the model what the Python server, training and the
// app feed it. Python draws with PIL; to reproduce its bytes this file rasterises the way PIL does:
//   - wide line segments: integer end points (truncated), a 4-corner polygon whose half-widths are
//     round-up / round-down of (width - 1) / 2, filled by scanlines at integer rows;
//   - discs: the bounding box truncated to integers, the ellipse traced on PIL's doubled integer grid;
//   - downsampling: PIL's separable resampling (horizontal pass, then vertical, 8-bit in between,
//     22-bit fixed-point weights) with its filters;
//   - the resize to the model's input: TensorFlow's half-pixel bilinear (serve/rendering.py).
// Checked against convert/golden/ and against the Python renderer on real drawings by
// tests/test_web_export.py. Pure functions, no DOM: the page and Node run the same code.
"use strict";

const SIMPLIFIED_SIDE = 255;  // Google's simplified drawings: aligned to 0, longer side spans 0..255

// numpy's round: half to even (np.round), which the Python side uses twice.
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

export const DEFAULT_CONTRACT = Object.freeze({
  size: 64, fit: "bbox", frame: 256, stroke_width: 16, margin: 16, supersample: 4, resample: "lanczos",
  polarity: "black_on_white",
});

// serve/rendering.py quickdraw_simplified: shift to 0, longer side scaled to 255, integers.
export function quickdrawSimplified(strokes) {
  const kept = strokes.filter(([xs]) => xs.length);
  let lowX = Infinity, lowY = Infinity, highX = -Infinity, highY = -Infinity;
  for (const [xs, ys] of kept) {
    for (const x of xs) { lowX = Math.min(lowX, x); highX = Math.max(highX, x); }
    for (const y of ys) { lowY = Math.min(lowY, y); highY = Math.max(highY, y); }
  }
  const extent = Math.max(highX - lowX, highY - lowY);
  const scale = extent > 0 ? SIMPLIFIED_SIDE / extent : 1;
  return kept.map(([xs, ys]) => [xs.map((x) => roundHalfEven((x - lowX) * scale)),
                                 ys.map((y) => roundHalfEven((y - lowY) * scale))]);
}

// --- rasterising (ink 255 on 0, one byte a pixel) ------------------------------------------------

function hline(canvas, side, x0, y, x1) {
  if (y < 0 || y >= side) return;
  const from = Math.max(0, x0), to = Math.min(side - 1, x1);
  if (from <= to) canvas.fill(255, y * side + from, y * side + to + 1);
}

// PIL's symmetric roundings of a float (away from / towards zero at .5).
const roundUp = (f) => (f >= 0 ? Math.floor(f + 0.5) : -Math.floor(Math.abs(f) + 0.5));
const roundDown = (f) => (f >= 0 ? Math.ceil(f - 0.5) : -Math.ceil(Math.abs(f) - 0.5));

// A convex polygon with integer corners, filled row by row: on row y, from the leftmost edge
// crossing (rounded up) to the rightmost (rounded down); PIL computes crossings in float32.
function fillConvex(canvas, side, corners) {
  const edges = [];
  for (let i = 0; i < corners.length; i++) {
    const [x0, y0] = corners[i], [x1, y1] = corners[(i + 1) % corners.length];
    if (y0 === y1) { hline(canvas, side, Math.min(x0, x1), y0, Math.max(x0, x1)); continue; }
    edges.push({ x0, y0, ymin: Math.min(y0, y1), ymax: Math.max(y0, y1), dx: Math.fround((x1 - x0) / (y1 - y0)) });
  }
  if (!edges.length) return;
  const top = Math.max(0, Math.min(...edges.map((e) => e.ymin)));
  const bottom = Math.min(side, Math.max(...edges.map((e) => e.ymax)));
  for (let y = top; y <= bottom; y++) {
    let left = Infinity, right = -Infinity;
    for (const e of edges) {
      if (y < e.ymin || y > e.ymax) continue;
      const x = Math.fround(Math.fround((y - e.y0) * e.dx) + e.x0);
      left = Math.min(left, x); right = Math.max(right, x);
    }
    if (left <= right) hline(canvas, side, roundUp(left), y, roundDown(right));
  }
}

// A segment `width` pixels wide between integer points (PIL's wide line, no caps).
function wideSegment(canvas, side, x0, y0, x1, y1, width) {
  const dx = x1 - x0, dy = y1 - y0;
  if (dx === 0 && dy === 0) { hline(canvas, side, x0, y0, x0); return; }
  const length = Math.hypot(dx, dy);
  const half = (width - 1) / 2;
  const ratioMax = roundUp(half) / length, ratioMin = roundDown(half) / length;
  const dxMin = roundDown(ratioMin * dy), dxMax = roundDown(ratioMax * dy);
  const dyMin = roundDown(ratioMin * dx), dyMax = roundDown(ratioMax * dx);
  fillConvex(canvas, side, [[x0 - dxMin, y0 + dyMax], [x1 - dxMin, y1 + dyMax],
                            [x1 + dxMax, y1 - dyMin], [x0 + dxMax, y0 - dyMin]]);
}

// Half-widths of a filled ellipse a x b (its box's integer size) per row, on PIL's doubled grid:
// walking the quarter from (a, b % 2) to (a % 2, b), each step to whichever of up, up-left and left
// lies closest to the curve (earlier candidates win ties); a row's half-width is its first point's x.
function ellipseRows(a, b) {
  const a2 = a * a, b2 = b * b;
  const delta = (x, y) => Math.abs(a2 * y * y + b2 * x * x - a2 * b2);
  const rows = new Map();
  let x = a, y = b % 2;
  for (;;) {
    if (!rows.has(y)) rows.set(y, x);
    if (x === a % 2 && y === b) break;
    let nx = x, ny = y + 2, best = delta(nx, ny);
    if (x > 1) {
      for (const [cx, cy] of [[x - 2, y + 2], [x - 2, y]]) {
        const d = delta(cx, cy);
        if (d < best) { nx = cx; ny = cy; best = d; }
      }
    }
    x = nx; y = ny;
  }
  return rows;
}

const ellipseCache = new Map();

function disc(canvas, side, left, top, right, bottom) {
  const x0 = Math.trunc(left), y0 = Math.trunc(top), x1 = Math.trunc(right), y1 = Math.trunc(bottom);
  const a = x1 - x0, b = y1 - y0;
  if (a < 0 || b < 0) return;
  const key = `${a},${b}`;
  if (!ellipseCache.has(key)) ellipseCache.set(key, ellipseRows(a, b));
  for (const [gy, gx] of ellipseCache.get(key)) {
    for (const sy of gy === 0 ? [0] : [gy, -gy]) {
      hline(canvas, side, x0 + (a - gx) / 2, y0 + (b + sy) / 2, x0 + (a + gx) / 2);
    }
  }
}

// --- resampling -----------------------------------------------------------------------------------

const sinc = (x) => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));
const FILTERS = {
  box: [0.5, (x) => (x > -0.5 && x <= 0.5 ? 1 : 0)],
  bilinear: [1, (x) => { x = Math.abs(x); return x < 1 ? 1 - x : 0; }],
  hamming: [1, (x) => { x = Math.abs(x); return x === 0 ? 1 : x >= 1 ? 0 : sinc(x) * (0.54 + 0.46 * Math.cos(x * Math.PI)); }],
  bicubic: [2, (x) => {
    const a = -0.5; x = Math.abs(x);
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0;
  }],
  lanczos: [3, (x) => (x > -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0)],
};
const PRECISION_BITS = 22;  // PIL's fixed point for 8-bit images: 32 - 8 - 2

// Per output pixel: the first input pixel and integer weights (they sum to about 2^22).
function coefficients(inSize, outSize, filterName) {
  const [support0, filter] = FILTERS[filterName];
  const scale = inSize / outSize, filterScale = Math.max(scale, 1), support = support0 * filterScale;
  const taps = [];
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    const first = Math.max(0, Math.trunc(centre - support + 0.5));
    const last = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const weights = [];
    let total = 0;
    for (let x = first; x < last; x++) {
      const w = filter((x - centre + 0.5) / filterScale);
      weights.push(w); total += w;
    }
    const fixed = weights.map((w) => {
      const v = (total !== 0 ? w / total : w) * 2 ** PRECISION_BITS;
      return v < 0 ? Math.trunc(v - 0.5) : Math.trunc(v + 0.5);
    });
    taps.push([first, fixed]);
  }
  return taps;
}

const clip8 = (sum) => Math.min(255, Math.max(0, Math.floor(sum / 2 ** PRECISION_BITS)));

// PIL's Image.resize(size, filter) on a square one-byte image: horizontal pass, then vertical.
export function resamplePil(pixels, side, outSide, filterName) {
  if (filterName === "nearest") {
    const out = new Uint8Array(outSide * outSide), scale = side / outSide;
    for (let y = 0; y < outSide; y++) {
      const sy = Math.min(side - 1, Math.floor((y + 0.5) * scale));
      for (let x = 0; x < outSide; x++) out[y * outSide + x] = pixels[sy * side + Math.min(side - 1, Math.floor((x + 0.5) * scale))];
    }
    return out;
  }
  const taps = coefficients(side, outSide, filterName);
  const half = 2 ** (PRECISION_BITS - 1);
  const wide = new Uint8Array(side * outSide);  // side rows x outSide columns
  for (let y = 0; y < side; y++) {
    for (let o = 0; o < outSide; o++) {
      const [first, weights] = taps[o];
      let sum = half;
      for (let k = 0; k < weights.length; k++) sum += pixels[y * side + first + k] * weights[k];
      wide[y * outSide + o] = clip8(sum);
    }
  }
  const out = new Uint8Array(outSide * outSide);
  for (let o = 0; o < outSide; o++) {
    const [first, weights] = taps[o];
    for (let x = 0; x < outSide; x++) {
      let sum = half;
      for (let k = 0; k < weights.length; k++) sum += wide[(first + k) * outSide + x] * weights[k];
      out[o * outSide + x] = clip8(sum);
    }
  }
  return out;
}

// --- the contract --------------------------------------------------------------------------------

// convert/drawing.py render_strokes: uint8 size x size, ink and paper as the contract's polarity says.
export function renderStrokes(strokes, contractIn) {
  const c = { ...DEFAULT_CONTRACT, ...(contractIn || {}) };
  const points = strokes.filter(([xs]) => xs.length);
  if (!points.length) throw new Error("the drawing has no points");
  const big = c.size * c.supersample;
  let map, scale;
  if (c.fit === "bbox") {
    let lowX = Infinity, lowY = Infinity, highX = -Infinity, highY = -Infinity;
    for (const [xs, ys] of points) {
      for (const x of xs) { lowX = Math.min(lowX, x); highX = Math.max(highX, x); }
      for (const y of ys) { lowY = Math.min(lowY, y); highY = Math.max(highY, y); }
    }
    const extent = Math.max(highX - lowX, highY - lowY);
    const fit = extent > 0 ? (c.frame - 1) / extent : 1;
    const centreX = (highX - lowX) * fit / 2, centreY = (highY - lowY) * fit / 2;
    scale = big / (c.frame + 2 * c.margin + c.stroke_width);
    const offsetX = c.frame / 2 - centreX + c.margin + c.stroke_width / 2;
    const offsetY = c.frame / 2 - centreY + c.margin + c.stroke_width / 2;
    map = (x, y) => [((x - lowX) * fit + offsetX) * scale, ((y - lowY) * fit + offsetY) * scale];
  } else {
    scale = big / c.frame;
    map = (x, y) => [x * scale, y * scale];
  }
  const width = c.stroke_width * scale, radius = width / 2;
  const lineWidth = Math.max(1, roundHalfEven(width));  // Python's round() is half to even too
  const canvas = new Uint8Array(big * big);
  for (const [xs, ys] of points) {
    const coords = xs.map((x, i) => map(x, ys[i]));
    for (let i = 1; i < coords.length; i++) {
      const [ax, ay] = coords[i - 1], [bx, by] = coords[i];
      wideSegment(canvas, big, Math.trunc(ax), Math.trunc(ay), Math.trunc(bx), Math.trunc(by), lineWidth);
    }
    // Discs at the points: round caps and joins.
    for (const [x, y] of coords) disc(canvas, big, x - radius, y - radius, x + radius, y + radius);
  }
  const ink = c.supersample > 1 ? resamplePil(canvas, big, c.size, c.resample) : canvas;
  if (c.polarity === "black_on_white") for (let i = 0; i < ink.length; i++) ink[i] = 255 - ink[i];
  return ink;
}

// tf.image.resize(..., "bilinear"): half-pixel centres, no antialiasing; float64 out.
export function resizeBilinear(pixels, inH, inW, outH, outW) {
  const taps = (inSize, outSize) => {
    const out = [];
    for (let i = 0; i < outSize; i++) {
      const p = Math.min(Math.max((i + 0.5) * inSize / outSize - 0.5, 0), inSize - 1);
      const low = Math.floor(p);
      out.push([low, Math.min(low + 1, inSize - 1), p - low]);
    }
    return out;
  };
  const ty = taps(inH, outH), tx = taps(inW, outW);
  const out = new Float64Array(outH * outW);
  for (let i = 0; i < outH; i++) {
    const [y0, y1, fy] = ty[i];
    for (let j = 0; j < outW; j++) {
      const [x0, x1, fx] = tx[j];
      const top = pixels[y0 * inW + x0] * (1 - fx) + pixels[y0 * inW + x1] * fx;
      const bottom = pixels[y1 * inW + x0] * (1 - fx) + pixels[y1 * inW + x1] * fx;
      out[i * outW + j] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

// serve/rendering.py render_drawing: strokes (any scale) -> uint8 [height * width], as the model gets it.
export function renderDrawing(strokes, height, width, contract) {
  const c = { ...DEFAULT_CONTRACT, ...(contract || {}) };
  let pixels = renderStrokes(quickdrawSimplified(strokes), c);
  if (c.size === height && c.size === width) return pixels;
  const resized = resizeBilinear(pixels, c.size, c.size, height, width);
  pixels = new Uint8Array(height * width);
  for (let i = 0; i < resized.length; i++) pixels[i] = Math.min(255, Math.max(0, roundHalfEven(resized[i])));
  return pixels;
}
