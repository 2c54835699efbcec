"""TensorFlow's start: set up before the import, quiet while it starts."""

import platform
import subprocess
import sys

import pytest

from conftest import ROOT, user_env


@pytest.mark.parametrize("user_setting", [None, "0"])
def test_onednn_kernels_are_asked_for_on_x86_unless_the_user_says_otherwise(user_setting):
    start = ("import os\nfrom pyimagesearch import startup\n"
             "with startup.tensorflow_start():\n    import keras\n"
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


def test_while_native_stderr_is_muted_python_still_reaches_the_real_one():
    script = ("import os, sys\nfrom pyimagesearch.startup import native_stderr_muted\n"
              "with native_stderr_muted():\n"
              "    os.write(2, b'from C++\\n')\n"
              "    print('from Python', file=sys.stderr)\n")
    env = user_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stderr == "from Python\n"
