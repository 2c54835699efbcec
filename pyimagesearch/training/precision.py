"""The dtype policy to train in: float32, or mixed precision where the hardware has it."""

from pyimagesearch.training.backend import accelerator


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

    With ``mixed``, on any backend: ``mixed_bfloat16`` on a GPU that computes bfloat16
    natively (compute capability 8.0 and later: Ampere, Hopper; no loss scaling needed),
    ``mixed_float16`` on an older GPU (Keras scales the loss), ``mixed_bfloat16`` on a CPU
    with bfloat16 instructions, and float32 otherwise (emulated bfloat16 is slower).
    """
    if not mixed:
        return "float32", None
    device, capability = accelerator()
    if device == "gpu" and capability is not None and tuple(capability) >= (8, 0):
        return "mixed_bfloat16", ("mixed precision: bfloat16 on the GPU (compute capability "
                                  f"{capability[0]}.{capability[1]}), float32 weights and softmax")
    if device == "gpu":
        return "mixed_float16", ("mixed precision: float16 on the GPU, with loss scaling; "
                                 "float32 weights and softmax")
    if cpu_supports_bfloat16():
        return "mixed_bfloat16", "mixed precision: bfloat16 on the CPU, float32 weights and softmax"
    return "float32", ("--mixed-precision ignored: this CPU has no bfloat16 instructions "
                       "(AVX512_BF16 or AMX), where it would be slower; training in float32")
