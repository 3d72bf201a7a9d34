// Stubs of the Android classes the bundle's Kotlin uses, with the signatures of the Android SDK's
// documentation (no android.jar here). They let kotlinc check the shipped code's syntax, imports and
// types; they do not check behaviour, nor that the real SDK has not changed.
@file:Suppress("UNUSED_PARAMETER", "unused")
package android.graphics

class Bitmap private constructor() {
    enum class Config { ARGB_8888, RGB_565 }
    val width: Int get() = 0
    val height: Int get() = 0
    fun getPixels(pixels: IntArray, offset: Int, stride: Int, x: Int, y: Int, width: Int, height: Int) {}
    fun setPixels(pixels: IntArray, offset: Int, stride: Int, x: Int, y: Int, width: Int, height: Int) {}
    companion object {
        @JvmStatic fun createBitmap(width: Int, height: Int, config: Config): Bitmap = Bitmap()
        @JvmStatic fun createScaledBitmap(src: Bitmap, dstWidth: Int, dstHeight: Int, filter: Boolean): Bitmap = Bitmap()
    }
}

class Canvas(bitmap: Bitmap) {
    fun drawColor(color: Int) {}
    fun drawLine(startX: Float, startY: Float, stopX: Float, stopY: Float, paint: Paint) {}
    fun drawCircle(cx: Float, cy: Float, radius: Float, paint: Paint) {}
}

class Paint {
    enum class Style { FILL, STROKE, FILL_AND_STROKE }
    enum class Cap { BUTT, ROUND, SQUARE }
    enum class Join { MITER, ROUND, BEVEL }
    var isAntiAlias: Boolean = false
    var color: Int = 0
    var style: Style = Style.FILL
    var strokeWidth: Float = 0f
    var strokeCap: Cap = Cap.BUTT
    var strokeJoin: Join = Join.MITER
}

object Color {
    const val BLACK: Int = -16777216
    const val WHITE: Int = -1
    @JvmStatic fun red(color: Int): Int = (color shr 16) and 0xFF
    @JvmStatic fun rgb(red: Int, green: Int, blue: Int): Int = 0
}
