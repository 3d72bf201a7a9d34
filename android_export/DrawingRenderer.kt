// DrawingRenderer.kt — a line-by-line port of convert/drawing.py's render_strokes (the drawing
// contract in model_info.json, key "drawing_contract"). Strokes in, grayscale-looking ARGB Bitmap out.
//
// Unit-test it with the golden files shipped beside it (golden/<name>.json + golden/<name>.png, made by
// the Python renderer): Android's Skia anti-aliasing and its bilinear downscale are not PIL's supersample
// + Lanczos, so compare with a tolerance (mean absolute difference below ~6 grey levels, max below ~80),
// not byte for byte. An app with only a bitmap of its canvas should crop to the ink's bounding box,
// pad it to a square with a margin of (margin + strokeWidth / 2) / (frame + 2 * margin + strokeWidth) of
// the side, and scale it to `size` — or, better, keep the strokes and call render().
package qdretrain

import android.graphics.Bitmap
import android.graphics.Canvas
import android.graphics.Color
import android.graphics.Paint

data class DrawingContract(
    val size: Int = 64,
    val fit: String = "bbox",          // "bbox": the ink's box fills the frame; "canvas": canvas pixels
    val frame: Float = 256f,
    val strokeWidth: Float = 16f,
    val margin: Float = 16f,
    val supersample: Int = 4,
    val blackOnWhite: Boolean = true    // polarity "black_on_white"
)

object DrawingRenderer {
    /** strokes: one (xs, ys) pair per stroke. Returns a size x size bitmap, ink and paper per the contract. */
    fun render(strokes: List<Pair<FloatArray, FloatArray>>, c: DrawingContract): Bitmap {
        val points = strokes.filter { it.first.isNotEmpty() }
        require(points.isNotEmpty()) { "the drawing has no points" }
        val big = c.size * c.supersample
        var lowX = Float.MAX_VALUE; var lowY = Float.MAX_VALUE
        var highX = -Float.MAX_VALUE; var highY = -Float.MAX_VALUE
        for ((xs, ys) in points) {
            for (x in xs) { lowX = minOf(lowX, x); highX = maxOf(highX, x) }
            for (y in ys) { lowY = minOf(lowY, y); highY = maxOf(highY, y) }
        }
        val scale: Float
        val mapX: (Float) -> Float
        val mapY: (Float) -> Float
        if (c.fit == "bbox") {
            val extent = maxOf(highX - lowX, highY - lowY)
            val fit = if (extent > 0f) (c.frame - 1f) / extent else 1f
            val centreX = (highX - lowX) * fit / 2f
            val centreY = (highY - lowY) * fit / 2f
            scale = big / (c.frame + 2f * c.margin + c.strokeWidth)
            val offsetX = c.frame / 2f - centreX + c.margin + c.strokeWidth / 2f
            val offsetY = c.frame / 2f - centreY + c.margin + c.strokeWidth / 2f
            mapX = { x -> ((x - lowX) * fit + offsetX) * scale }
            mapY = { y -> ((y - lowY) * fit + offsetY) * scale }
        } else {
            scale = big / c.frame
            mapX = { x -> x * scale }
            mapY = { y -> y * scale }
        }
        val width = c.strokeWidth * scale
        val bitmap = Bitmap.createBitmap(big, big, Bitmap.Config.ARGB_8888)
        val canvas = Canvas(bitmap)
        canvas.drawColor(Color.BLACK)  // ink is drawn white on black, inverted at the end (as in Python)
        val line = Paint().apply {
            isAntiAlias = true; color = Color.WHITE; style = Paint.Style.STROKE
            strokeWidth = maxOf(1f, Math.round(width).toFloat())
            strokeCap = Paint.Cap.ROUND; strokeJoin = Paint.Join.ROUND
        }
        val disc = Paint().apply { isAntiAlias = true; color = Color.WHITE; style = Paint.Style.FILL }
        for ((xs, ys) in points) {
            for (i in 1 until xs.size) {
                canvas.drawLine(mapX(xs[i - 1]), mapY(ys[i - 1]), mapX(xs[i]), mapY(ys[i]), line)
            }
            // Discs at the points: round caps and joins, as the Python renderer draws them.
            for (i in xs.indices) canvas.drawCircle(mapX(xs[i]), mapY(ys[i]), width / 2f, disc)
        }
        val small = if (c.supersample > 1) Bitmap.createScaledBitmap(bitmap, c.size, c.size, true) else bitmap
        if (!c.blackOnWhite) return small
        val pixels = IntArray(c.size * c.size)
        small.getPixels(pixels, 0, c.size, 0, 0, c.size, c.size)
        for (i in pixels.indices) {
            val v = 255 - Color.red(pixels[i])
            pixels[i] = Color.rgb(v, v, v)
        }
        val out = Bitmap.createBitmap(c.size, c.size, Bitmap.Config.ARGB_8888)
        out.setPixels(pixels, 0, c.size, 0, 0, c.size, c.size)
        return out
    }
}
