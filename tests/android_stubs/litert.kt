// Stubs of LiteRT's Kotlin API (com.google.ai.edge.litert, CompiledModel; and the Interpreter API it
// keeps for compatibility, org.tensorflow.lite), with the signatures of ai.google.dev/edge/litert's
// Android guide. Syntax/type check only.
@file:Suppress("UNUSED_PARAMETER", "unused")
package com.google.ai.edge.litert

import android.content.res.AssetManager

enum class Accelerator { CPU, GPU, NPU }

class TensorBuffer private constructor() : AutoCloseable {
    fun writeFloat(data: FloatArray) {}
    fun writeInt8(data: ByteArray) {}
    fun readFloat(): FloatArray = FloatArray(0)
    fun readInt8(): ByteArray = ByteArray(0)
    override fun close() {}
}

class CompiledModel private constructor() : AutoCloseable {
    class Options(vararg accelerators: Accelerator)
    fun createInputBuffers(): List<TensorBuffer> = emptyList()
    fun createOutputBuffers(): List<TensorBuffer> = emptyList()
    fun run(inputs: List<TensorBuffer>, outputs: List<TensorBuffer>) {}
    override fun close() {}
    companion object {
        @JvmStatic fun create(assetManager: AssetManager, assetName: String, options: Options): CompiledModel = CompiledModel()
    }
}
