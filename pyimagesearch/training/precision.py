"""The dtype policy to train in: float32, or mixed precision where the hardware has it."""

import tensorflow as tf


def cpu_supports_bfloat16():
    """Whether the CPU has native bfloat16 arithmetic (AVX512_BF16 or AMX-BF16).
    Read from /proc/cpuinfo; on systems without it the answer is a safe no."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = set(cpuinfo.read().split())
    except OSError:
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def choose_precision(mixed):
    """The Keras dtype policy to train with, and a note for the user (or None).

    With ``mixed``: ``mixed_float16`` on a GPU, ``mixed_bfloat16`` on a CPU with
    bfloat16 instructions, and float32 otherwise (emulated bfloat16 is slower).
    """
    if not mixed:
        return "float32", None
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16", "mixed precision: float16 on the GPU, float32 weights and softmax"
    if cpu_supports_bfloat16():
        return "mixed_bfloat16", "mixed precision: bfloat16 on the CPU, float32 weights and softmax"
    return "float32", ("--mixed-precision ignored: this CPU has no bfloat16 instructions "
                       "(AVX512_BF16 or AMX), where it would be slower; training in float32")
