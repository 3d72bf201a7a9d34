@file:Suppress("UNUSED_PARAMETER", "unused")
package com.google.mediapipe.tasks.components.containers

class Category private constructor() {
    fun categoryName(): String = ""
    fun score(): Float = 0f
}

class Classifications private constructor() {
    fun categories(): List<Category> = emptyList()
}
