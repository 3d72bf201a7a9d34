@file:Suppress("UNUSED_PARAMETER", "unused")
package com.google.mediapipe.framework.image

import android.graphics.Bitmap

class MPImage private constructor()

class BitmapImageBuilder(bitmap: Bitmap) {
    fun build(): MPImage = throw UnsupportedOperationException()
}
