@file:Suppress("UNUSED_PARAMETER", "unused")
package android.util

object Log {
    @JvmStatic fun i(tag: String, msg: String): Int = 0
}
