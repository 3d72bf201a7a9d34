@file:Suppress("UNUSED_PARAMETER", "unused")
package org.tensorflow.lite.support.label

class Category private constructor() {
    val label: String get() = ""
    val score: Float get() = 0f
}
