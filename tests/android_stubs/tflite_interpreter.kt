@file:Suppress("UNUSED_PARAMETER", "unused")
package org.tensorflow.lite

import java.nio.ByteBuffer

class Interpreter(model: ByteBuffer, options: Options) : AutoCloseable {
    class Options {
        fun setNumThreads(numThreads: Int): Options = this
    }
    fun run(input: Any, output: Any) {}
    override fun close() {}
}
