@file:Suppress("UNUSED_PARAMETER", "unused")
package org.tensorflow.lite.task.vision.classifier

import android.content.Context
import org.tensorflow.lite.support.image.TensorImage
import org.tensorflow.lite.support.label.Category

class Classifications private constructor() {
    val categories: List<Category> get() = emptyList()
}

class ImageClassifier private constructor() {
    class ImageClassifierOptions private constructor() {
        class Builder {
            fun setMaxResults(maxResults: Int): Builder = this
            fun build(): ImageClassifierOptions = ImageClassifierOptions()
        }
        companion object { @JvmStatic fun builder(): Builder = Builder() }
    }
    fun classify(image: TensorImage): List<Classifications> = emptyList()
    companion object {
        @JvmStatic fun createFromFileAndOptions(context: Context, modelPath: String,
                                                options: ImageClassifierOptions): ImageClassifier = ImageClassifier()
    }
}
