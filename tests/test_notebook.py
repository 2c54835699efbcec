"""The chapter in a notebook, run in a real Jupyter kernel: notebooks/fashion_mnist.ipynb
executes the chapter's own lines, shows its plot and montage inline and, with a seed, prints
the same classification report every time; and fashion_mnist.py run in a kernel
shows its pictures inline, draws Keras's progress bar, runs twice, and keeps its results
when the kernel is interrupted, leaving no handler or lock behind."""

import os
import queue
import signal
import subprocess
import sys
import time
from importlib.metadata import version

import nbformat
import pytest
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from conftest import ROOT, write_dataset

NOTEBOOK = ROOT / "notebooks" / "fashion_mnist.ipynb"


def report(text):
    """The classification report in what a run printed: its lines from the header to the
    weighted average."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "precision" in line and "recall" in line)
    end = next(i for i, line in enumerate(lines) if line.strip().startswith("weighted avg"))
    return "\n".join(line.rstrip() for line in lines[start:end + 1])


def kernel_env(data):
    """The kernel's environment: the project importable, the tiny data found, no display."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    return {**env, "PYTHONPATH": str(ROOT), "FASHION_MNIST_DIR": str(data)}


def test_the_notebook_is_what_its_source_makes():
    result = subprocess.run([sys.executable, str(ROOT / "notebooks" / "build.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    nbformat.validate(nbformat.read(NOTEBOOK, as_version=4))
    before = NOTEBOOK.stat().st_mtime_ns
    mistyped = subprocess.run([sys.executable, str(ROOT / "notebooks" / "build.py"), "--chek"],
                              capture_output=True, text=True)
    assert mistyped.returncode == 2 and "unrecognized arguments: --chek" in mistyped.stderr
    assert NOTEBOOK.stat().st_mtime_ns == before  # refused, not taken as "write it"


def test_the_notebook_holds_the_chapters_own_lines():
    source = "".join(cell.source for cell in nbformat.read(NOTEBOOK, as_version=4).cells)
    for line in ['trainX = trainX.astype("float32") / 255.0',
                 "trainY = keras.utils.to_categorical(trainY, 10)",
                 "opt = keras.optimizers.SGD(", "H = model.fit(", "classification_report(",
                 'plt.style.use("ggplot")', 'plt.legend(loc="lower left")',
                 "cv2.putText(image, label, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.75, color, 2)",
                 "montage = build_montages(images, (96, 96), (4, 4))[0]"]:
        assert line in source, line
    for helper in ["make_dataset", "fuse_batch_norm", "steps_per_epoch", "plot_history",
                   "prediction_montage"]:  # the project's machinery stays out of sight
        assert helper not in source, helper


def run_notebook(folder, data, monkeypatch):
    """Execute the notebook, seeded, on ``data`` for one short epoch, in ``folder``; returns
    the notebook, its outputs filled in, and what it printed."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(cell for cell in notebook.cells if "parameters" in cell.metadata.get(
        "tags", []))
    parameters.source += "\nNUM_EPOCHS, LIMIT, SEED = 1, 300, 3  # the test's short run"
    folder.mkdir()
    for name, value in kernel_env(data).items():
        monkeypatch.setenv(name, value)  # the kernel starts with this process's environment
    handler = signal.getsignal(signal.SIGINT)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    # nbclient's event loop leaves Python's own Ctrl-C handler behind, whatever it found (an
    # ignored SIGINT, in a job started with &): put back what was there
    signal.signal(signal.SIGINT, handler)
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      for output in cell.get("outputs", []) if output.output_type == "stream")
    return notebook, printed


@pytest.mark.slow  # a kernel of its own, twice
def test_the_notebook_runs_and_reports_the_same_every_time_with_a_seed(tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_dataset(data, n_train=300)
    notebook, printed = run_notebook(tmp_path / "run", data, monkeypatch)
    for picture in ("plt.show()", "show_window(montage"):  # the plot and the montage, inline
        cell = next(cell for cell in notebook.cells if picture in cell.source)
        assert any("image/png" in output.get("data", {}) for output in cell.outputs), picture
    assert (tmp_path / "run" / "montage.png").is_file()
    assert (tmp_path / "run" / "plot.png").is_file()
    assert "ankle boot" in report(printed)
    _, again = run_notebook(tmp_path / "again", data, monkeypatch)
    assert report(again) == report(printed)


def execute(client, code, until=None, then=None):
    """Run ``code`` in the kernel; calls ``then()`` once its output shows ``until``. Returns
    what it printed (errors included) and the kinds of picture it displayed."""
    message_id = client.execute(code)
    printed, pictures, done = "", [], False
    while True:
        try:
            message = client.get_iopub_msg(timeout=600)
        except queue.Empty:
            raise AssertionError(f"the kernel said nothing for 10 minutes (ipykernel "
                                 f"{version('ipykernel')}, tornado {version('tornado')}) after "
                                 f"printing: {printed[-2000:]!r}") from None
        if message["parent_header"].get("msg_id") != message_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            printed += content["text"]
        elif kind in ("display_data", "execute_result"):
            pictures += [mime for mime in content["data"] if mime.startswith("image/")]
            printed += content["data"].get("text/plain", "") + "\n"
        elif kind == "error":
            printed += "\n".join(content["traceback"])
        elif kind == "status" and content["execution_state"] == "idle":
            return printed, pictures
        if until and not done and until in printed:
            then()
            done = True


@pytest.mark.slow  # a kernel of its own, and three short runs
def test_the_program_in_a_kernel_shows_inline_and_survives_an_interrupt(tmp_path):
    data = tmp_path / "data"
    write_dataset(data, n_train=1000)
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(tmp_path),
                                       env=kernel_env(data))
    try:
        argv = f"['--epochs', '20', '--output', {str(tmp_path / 'a')!r}]"
        printed, pictures = execute(client, f"import fashion_mnist\n"
                                            f"print('exit', fashion_mnist.main({argv}))",
                                    until="Epoch 2/", then=manager.interrupt_kernel)
        assert "exit 130" in printed and "interrupted by Ctrl-C after 1 of 20 epochs" in printed
        assert "━" in printed  # Keras's progress bar, as a notebook front end draws it
        assert pictures.count("image/png") == 3  # the plot, the confusion matrix, the montage
        assert sorted(os.listdir(tmp_path / "a")) == [
            "confusion.png", "fashion_mnist-backup.npz", "fashion_mnist.keras", "montage.png",
            "plot.png"]  # no lock left: the run let go of the folder

        printed, _ = execute(client, "import signal\n"
                                     "print(signal.getsignal(signal.SIGINT) is "
                                     "signal.default_int_handler)")
        assert printed.strip() == "True"  # the kernel's own handling of its interrupt, back

        # a second run in the same kernel, then one with %run, as a user does
        printed, _ = execute(client, f"print('exit', fashion_mnist.main(['--epochs', '1', "
                                     f"'--output', {str(tmp_path / 'c')!r}]))")
        assert "exit 0" in printed and "test accuracy" in printed, printed
        printed, pictures = execute(client, f"%run {ROOT / 'fashion_mnist.py'} --epochs 1 "
                                            f"--output {tmp_path / 'b'}")
        assert "Traceback" not in printed and "test accuracy" in printed, printed
        assert pictures.count("image/png") == 3
        printed, _ = execute(client, f"%run {ROOT / 'fashion_mnist.py'} --epochs 0")
        assert "must be a whole number from 1 to 10000" in printed
        # the README's way, main([...]): a wrong flag or file is one line, never a traceback
        printed, _ = execute(client, "print('exit', fashion_mnist.main(['--epochs', '0']))")
        assert "exit 2" in printed and "Traceback" not in printed, printed
        printed, _ = execute(client, f"print('exit', fashion_mnist.main(['--dataset-dir', "
                                     f"{str(tmp_path / 'none')!r}, '--output', "
                                     f"{str(tmp_path / 'd')!r}]))")
        assert "exit 1" in printed and "error: " in printed and "Traceback" not in printed

        def interrupt_twice():
            manager.interrupt_kernel()
            time.sleep(1)  # the first is taken: training stops after this batch
            manager.interrupt_kernel()

        printed, _ = execute(client, f"print('exit', fashion_mnist.main(['--epochs', '20', "
                                     f"'--output', {str(tmp_path / 'e')!r}]))",
                             until="Epoch 2/", then=interrupt_twice)
        assert "exit 130" in printed and "Traceback" not in printed, printed
        printed, _ = execute(client, "print('alive')")  # the kernel lives on
        assert printed.strip() == "alive"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
