"""--mixed-precision: bfloat16 on a GPU that computes it natively and on a CPU with bfloat16
instructions, float16 on an older GPU, float32 elsewhere; on every backend."""

import pytest

from pyimagesearch.training import precision


def test_mixed_precision_is_bfloat16_only_on_a_cpu_that_has_it(monkeypatch):
    monkeypatch.setattr(precision, "accelerator", lambda: ("cpu", None))
    for has_bfloat16, policy in ((True, "mixed_bfloat16"), (False, "float32")):
        monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: has_bfloat16)
        chosen, note = precision.choose_precision(True)
        assert chosen == policy and note.startswith("mixed precision" if has_bfloat16 else
                                                    "--mixed-precision ignored")
    assert precision.choose_precision(False) == ("float32", None)


@pytest.mark.parametrize("capability, policy", [((9, 0), "mixed_bfloat16"),
                                                ((8, 0), "mixed_bfloat16"),
                                                ((7, 5), "mixed_float16"),
                                                (None, "mixed_float16")])
def test_a_gpu_trains_in_bfloat16_where_it_computes_it_natively(monkeypatch, capability,
                                                                policy):
    monkeypatch.setattr(precision, "accelerator", lambda: ("gpu", capability))
    chosen, note = precision.choose_precision(True)
    assert chosen == policy and "on the GPU" in note


def test_the_device_is_asked_of_the_backend_keras_runs_on():
    device, capability = precision.accelerator()  # this machine's: no GPU in CI
    assert device in ("cpu", "gpu") and (capability is None) == (device == "cpu")
