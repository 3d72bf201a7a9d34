// Stubs of the deprecated TFLite Task Library / Support Library (org.tensorflow:tensorflow-lite-task-vision
// and tensorflow-lite-support 0.4.4), for the bundle's "existing apps" section. Syntax/type check only.
@file:Suppress("UNUSED_PARAMETER", "unused")
package org.tensorflow.lite.support.common

import android.content.Context
import java.nio.MappedByteBuffer

object FileUtil {
    @JvmStatic fun loadMappedFile(context: Context, filePath: String): MappedByteBuffer = throw UnsupportedOperationException()
}
