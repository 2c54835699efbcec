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
             "backend.start()\n"
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
    start = ("import os, signal, sys, types\n"
             + ("ipython = types.ModuleType('IPython')\nipython.get_ipython = lambda: object()\n"
                "sys.modules['IPython'] = ipython\n" if kernel else "")
             + "import fashion_mnist\nfrom pyimagesearch.training import backend\n"
               "def start(argv):\n    backend.start()\n    os.kill(os.getpid(), signal.SIGINT)\n"
               "fashion_mnist.run_chapter = start\n"
               "code = fashion_mnist.main([])\nprint('the kernel lives on', code)\n"
               f"if not {kernel}:\n"
               "    from pyimagesearch.safety.supervisor import leave\n    leave(code)\n")
    result = subprocess.run([sys.executable, "-c", start], cwd=ROOT, env=user_env(),
                            capture_output=True, text=True, timeout=300)
    assert "Ctrl-C: stopped, nothing was written" in result.stderr
    assert result.stdout == "the kernel lives on 130\n"
    assert result.returncode == (0 if kernel else 130)


def test_a_kernel_whose_import_of_keras_was_interrupted_is_told_to_restart(tmp_path):
    start = ("import builtins, sys, types\n"
             "ipython = types.ModuleType('IPython')\nipython.get_ipython = lambda: object()\n"
             "sys.modules['IPython'] = ipython\n"
             "import fashion_mnist\n"
             "real_import = builtins.__import__\n"
             "def interrupted(name, *args, **kwargs):\n"  # Ctrl-C half-way through the import
             "    if name == 'keras':\n"
             "        builtins.__import__ = real_import\n"
             "        raise KeyboardInterrupt\n"
             "    return real_import(name, *args, **kwargs)\n"
             "builtins.__import__ = interrupted\n"
             f"argv = ['--dataset-dir', {str(tmp_path / 'none')!r}, '--output', "
             f"{str(tmp_path / 'out')!r}]\n"
             "try:\n    fashion_mnist.main(argv)\n"
             "except KeyboardInterrupt:\n    print('interrupted')\n"
             "print('exit', fashion_mnist.main(argv))\n")
    result = subprocess.run([sys.executable, "-c", start], cwd=ROOT, env=user_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.stdout.splitlines()[-1] == "exit 1", result.stderr[-2000:]
    assert ("error: Keras's import was interrupted earlier in this process, which leaves it "
            "half-imported; restart the kernel (or the program) and run again") in result.stderr


IMPORT_ALL = """
import importlib, os, pkgutil, signal, sys
import cv2, imutils, matplotlib, numpy, PIL, sklearn.metrics  # what these change is their own
{keras}
before = dict(os.environ), (sys.stdout, sys.stderr), [signal.getsignal(s) for s in
                                                       signal.valid_signals()]
import fashion_mnist, pyimagesearch
{modules}
after = dict(os.environ), (sys.stdout, sys.stderr), [signal.getsignal(s) for s in
                                                      signal.valid_signals()]
print("keras" in sys.modules, before == after)
"""


@pytest.mark.parametrize("every_module", [False, True])
def test_importing_the_program_or_any_module_sets_nothing_up(every_module):
    """Importing changes no environment variable, standard stream or signal handler, beyond
    what importing the libraries themselves does; the program's own import starts no Keras."""
    check = IMPORT_ALL.format(
        keras="import keras" if every_module else "",
        modules="for module in pkgutil.walk_packages(pyimagesearch.__path__, 'pyimagesearch.'):\n"
                "    importlib.import_module(module.name)" if every_module else "")
    result = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=user_env(),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [str(every_module), "True"], result.stdout
