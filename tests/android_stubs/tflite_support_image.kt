@file:Suppress("UNUSED_PARAMETER", "unused")
package org.tensorflow.lite.support.image

import android.graphics.Bitmap

class TensorImage private constructor() {
    companion object { @JvmStatic fun fromBitmap(bitmap: Bitmap): TensorImage = TensorImage() }
}
