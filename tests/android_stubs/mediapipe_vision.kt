@file:Suppress("UNUSED_PARAMETER", "unused")
package com.google.mediapipe.tasks.vision.imageclassifier

import android.content.Context
import com.google.mediapipe.framework.image.MPImage
import com.google.mediapipe.tasks.components.containers.Category
import com.google.mediapipe.tasks.components.containers.Classifications
import com.google.mediapipe.tasks.core.BaseOptions

class ImageClassifierResult private constructor() {
    fun classificationResult(): ClassificationResult = ClassificationResult()
    class ClassificationResult internal constructor() {
        fun classifications(): List<Classifications> = emptyList()
    }
}

class ImageClassifier private constructor() : AutoCloseable {
    class ImageClassifierOptions private constructor() {
        class Builder {
            fun setBaseOptions(options: BaseOptions): Builder = this
            fun setMaxResults(maxResults: Int): Builder = this
            fun build(): ImageClassifierOptions = ImageClassifierOptions()
        }
        companion object { @JvmStatic fun builder(): Builder = Builder() }
    }
    fun classify(image: MPImage): ImageClassifierResult = throw UnsupportedOperationException()
    override fun close() {}
    companion object {
        @JvmStatic fun createFromOptions(context: Context, options: ImageClassifierOptions): ImageClassifier = ImageClassifier()
    }
}
