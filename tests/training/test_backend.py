"""Keras's backend started: set up before the import, quiet while it starts."""

import platform
import subprocess
import sys

import pytest

from conftest import ROOT, on_backend, user_env


@pytest.mark.parametrize("user_setting", [None, "0"])
@on_backend("tensorflow")  # its kernels
def test_onednn_kernels_are_asked_for_on_x86_unless_the_user_says_otherwise(user_setting):
    start = ("import os\nfrom pyimagesearch.training import backend\n"
             "with backend.keras_start():\n    import keras\n"
             "from tensorflow.python.util import _pywrap_util_port as port\n"
             "print(os.environ.get('TF_ENABLE_ONEDNN_OPTS'), port.IsMklEnabled())")
    env = user_env()
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    if user_setting is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = user_setting
    result = subprocess.run([sys.executable, "-c", start], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    setting, enabled = result.stdout.split()[-2:]
    if user_setting == "0":
        assert (setting, enabled) == ("0", "False")
    elif platform.machine().lower() in ("x86_64", "amd64"):
        assert (setting, enabled) == ("1", "True")
    else:  # left to TensorFlow's own choice
        assert setting == "None"


@pytest.mark.parametrize("kernel", [False, True])
def test_ctrl_c_while_keras_starts_ends_a_program_but_not_a_notebooks_kernel(kernel):
    start = ("import sys, types\n"
             + ("ipython = types.ModuleType('IPython')\nipython.get_ipython = lambda: object()\n"
                "sys.modules['IPython'] = ipython\n" if kernel else "")
             + "from pyimagesearch.training import backend\n"
               "try:\n    with backend.keras_start():\n        raise KeyboardInterrupt\n"
               "except SystemExit as stop:\n    print('the kernel lives on', stop.code)\n")
    result = subprocess.run([sys.executable, "-c", start], cwd=ROOT, env=user_env(),
                            capture_output=True, text=True, timeout=300)
    assert "interrupted while starting Keras: nothing was done" in result.stderr
    if kernel:
        assert (result.returncode, result.stdout) == (0, "the kernel lives on 130\n")
    else:
        assert (result.returncode, result.stdout) == (130, "")
