"""The device Keras trains on, and the dtype policy to train in there: float32, or mixed
precision where the hardware has it."""


def accelerator():
    """("gpu", (major, minor)) when Keras's backend trains on an NVIDIA GPU of that compute
    capability (or None where it cannot say), else ("cpu", None)."""
    import keras

    name = keras.backend.backend()
    if name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return "gpu", tf.config.experimental.get_device_details(gpus[0]).get(
                "compute_capability")
    elif name == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform == "gpu":
            capability = getattr(device, "compute_capability", None)
            return "gpu", tuple(map(int, capability.split("."))) if capability else None
    elif name == "torch":
        import torch

        if torch.cuda.is_available():
            return "gpu", torch.cuda.get_device_capability()
    return "cpu", None


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
