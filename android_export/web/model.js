// The exported model in the browser: LiteRT.js (WebAssembly, CPU) running the same model.tflite
// the Android app ships. One job: pixels in, one score per label out.
import { loadAndCompile, loadLiteRt, Tensor } from "@litertjs/core";

// LiteRT.js picks its wasm build by the browser's features; the exporter ships the two it can pick
// without threads or JSPI (litert_wasm_internal: relaxed SIMD; litert_wasm_compat_internal: without).
export async function openModel(info) {
  const base = document.baseURI;
  await loadLiteRt(new URL("litert/wasm/", base).href);
  const compiled = await loadAndCompile(new URL(info.model, base).href, { accelerator: "wasm" });
  const [height, width] = [info.input_height, info.input_width];
  return {
    // pixels: uint8 grey [height * width] -> Float32Array of scores (model output order).
    async classify(pixels) {
      const rgb = new Float32Array(height * width * 3);
      for (let i = 0; i < pixels.length; i++) {
        const v = (pixels[i] - info.input_mean) / info.input_std;
        rgb[3 * i] = v; rgb[3 * i + 1] = v; rgb[3 * i + 2] = v;
      }
      const input = new Tensor(rgb, [1, height, width, 3]);
      try {
        const outputs = await compiled.run(input);
        const scores = Float32Array.from(outputs[0].toTypedArray());
        for (const output of outputs) output.delete();
        return scores;
      } finally {
        input.delete();
      }
    },
  };
}
