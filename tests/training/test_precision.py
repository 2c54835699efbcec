"""--mixed-precision: bfloat16 only on a CPU with bfloat16 instructions, float16 on a GPU."""

import tensorflow as tf

from pyimagesearch.training import precision


def test_mixed_precision_is_bfloat16_only_on_a_cpu_that_has_it(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])  # no GPU
    for has_bfloat16, policy in ((True, "mixed_bfloat16"), (False, "float32")):
        monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: has_bfloat16)
        chosen, note = precision.choose_precision(True)
        assert chosen == policy and note.startswith("mixed precision" if has_bfloat16 else
                                                    "--mixed-precision ignored")
    assert precision.choose_precision(False) == ("float32", None)


def test_a_gpu_trains_in_float16(monkeypatch):
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: ["GPU:0"] if kind == "GPU" else [])
    chosen, note = precision.choose_precision(True)
    assert chosen == "mixed_float16" and "float16 on the GPU" in note
