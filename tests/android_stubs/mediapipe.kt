// Stubs of MediaPipe Tasks' ImageClassifier (com.google.mediapipe:tasks-vision), with the signatures of
// its Android guide. Syntax/type check only.
@file:Suppress("UNUSED_PARAMETER", "unused")
package com.google.mediapipe.tasks.core

class BaseOptions private constructor() {
    class Builder {
        fun setModelAssetPath(path: String): Builder = this
        fun build(): BaseOptions = BaseOptions()
    }
    companion object { @JvmStatic fun builder(): Builder = Builder() }
}
