# %% [markdown]
# # Fashion-MNIST with Keras: the chapter as a notebook
#
# The chapter's listings, one cell each and in its order, on this project's pieces: the
# network (`MiniVGGNet`), the offline loader, the input pipeline, the chapter's decay, the
# plot and the montage. The pictures appear below their cells. This notebook is made from
# `notebooks/fashion_mnist.py`: change that file, then run `python notebooks/build.py`.

# %% [markdown]
# **Setup.** The project's code and what it needs. Opened from the project's folder, this
# finds the code there; alone (in Colab, say), set `PROJECT` to the project's git address
# first, and the cell fetches it. Missing packages are installed; the data is found on disk
# (`FASHION_MNIST_DIR`, Keras's cache, Debian's package) or downloaded.

# %%
import importlib.util
import subprocess
import sys
from pathlib import Path

PROJECT = ""  # the project's git address, where this notebook runs without its folder

if importlib.util.find_spec("pyimagesearch") is None:
    clone = Path.cwd() / "fashion-mnist"  # where PROJECT is fetched to (before a restart, say)
    root = next((folder for folder in [Path.cwd(), *Path.cwd().parents, clone]
                 if (folder / "pyimagesearch" / "minivggnet.py").is_file()), None)
    if root is None and PROJECT:
        subprocess.run(["git", "clone", "--depth", "1", PROJECT, str(clone)], check=True)
        root = clone
    if root is None:
        raise RuntimeError("set PROJECT to the project's git address, or open this notebook "
                           "from the project's folder")
    sys.path.insert(0, str(root))
needed = {"keras": "keras", "sklearn": "scikit-learn", "imutils": "imutils",
          "cv2": "opencv-python-headless", "matplotlib": "matplotlib"}
missing = [package for module, package in needed.items() if not importlib.util.find_spec(module)]
if missing:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)

# %% [markdown]
# **Listing: the imports.** Keras starts as `fashion_mnist.py` starts it, on the backend
# Keras is set to (`KERAS_BACKEND`: TensorFlow unless said).

# %%
from pyimagesearch.training import backend

keras = backend.start()  # as fashion_mnist.py starts it: quietly, with the same kernels

import numpy as np
from sklearn.metrics import classification_report

from pyimagesearch import display
from pyimagesearch.datasets import LABEL_NAMES, load_fashion_mnist
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.montage import pick_images, prediction_montage, save_image
from pyimagesearch.pipeline import make_dataset
from pyimagesearch.plots import plot_history, save_figure
from pyimagesearch.schedules import keras2_decay
from pyimagesearch.training.backend import make_deterministic
from pyimagesearch.training.batchnorm import fuse_batch_norm

# %% [markdown]
# **Listing: the number of epochs, the learning rate and the batch size.** `LIMIT` and
# `SEED` are this notebook's: a quick try, and a run to reproduce.

# %% tags=["parameters"]
NUM_EPOCHS = 25
INIT_LR = 1e-2
BS = 32
LIMIT = None  # train on the first LIMIT images only (None: all 60,000)
SEED = None  # a number: the same run again, as fashion_mnist.py --seed gives it

# %% [markdown]
# **Listing: loading Fashion-MNIST.** From disk when the four files are there, with no
# internet needed; else Keras's download.

# %%
print("[INFO] loading Fashion MNIST...")
((trainX, trainY), (testX, testY)), source = load_fashion_mnist()
if LIMIT is not None:
    trainX, trainY = trainX[:LIMIT], trainY[:LIMIT]
print(f"[INFO] {len(trainX):,} training and {len(testX):,} test images, from {source}")

# %% [markdown]
# **Listing: the reshape, by the backend's channel order.**

# %%
if keras.backend.image_data_format() == "channels_first":
    trainX = trainX.reshape((trainX.shape[0], 1, 28, 28))
    testX = testX.reshape((testX.shape[0], 1, 28, 28))
else:
    trainX = trainX.reshape((trainX.shape[0], 28, 28, 1))
    testX = testX.reshape((testX.shape[0], 28, 28, 1))

# %% [markdown]
# **Listing: scaling to [0, 1], and one-hot labels.** The pipeline does both a batch at a
# time, as training asks for it: the images stay uint8 in memory. Each epoch in its own
# order.

# %%
trainData = make_dataset(trainX, trainY, BS, shuffle=True, seed=SEED, epochs=range(NUM_EPOCHS))
testData = make_dataset(testX, testY, 64)

# %% [markdown]
# **Listing: the label names.**

# %%
labelNames = LABEL_NAMES
print(labelNames)

# %% [markdown]
# **Listing: the optimizer and the model, compiled.** Keras 3 has no `SGD(decay=...)`:
# `keras2_decay` gives the same rate after every update, `INIT_LR / (1 + decay * t)`.
# On TensorFlow, batch norm trains in its fused kernel (a speed-up; nothing changes on
# JAX or PyTorch).

# %%
if SEED is not None:
    make_deterministic(SEED)
print("[INFO] compiling model...")
opt = keras.optimizers.SGD(learning_rate=keras2_decay(INIT_LR, INIT_LR / NUM_EPOCHS),
                           momentum=0.9)
model = MiniVGGNet.build(width=28, height=28, depth=1, classes=len(labelNames))
fuse_batch_norm(model)
model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])

# %% [markdown]
# **Listing: training, validated on the test set after every epoch.**

# %%
print("[INFO] training model...")
H = model.fit(trainData, steps_per_epoch=trainData.steps, epochs=NUM_EPOCHS,
              validation_data=testData, shuffle=False)

# %% [markdown]
# **Listing: predictions on the test set, and the classification report.**

# %%
print("[INFO] evaluating network...")
preds = model.predict(make_dataset(testX, np.zeros(len(testX), np.uint8), 64), verbose=0)
print(classification_report(testY, preds.argmax(axis=1), target_names=labelNames,
                            zero_division=0))

# %% [markdown]
# **Listing: the plot of the training loss and accuracy** (`H.history["accuracy"]`, once
# `"acc"`), saved as plot.png.

# %%
save_figure(plot_history(H.history), "plot.png")
display.show_inline("plot.png")

# %% [markdown]
# **Listing: 16 test images, each with its prediction, in a montage** (green: right; red:
# wrong). The chapter shows it in a window until a key is pressed; a notebook shows it here.

# %%
chosen = pick_images(16, len(testX), SEED)
montage = prediction_montage(testX[chosen].reshape((-1, 28, 28)), preds.argmax(axis=1)[chosen],
                             testY[chosen], labelNames)
save_image(montage, "montage.png")
display.show_window(montage, "montage.png")

# %% [markdown]
# **The whole run in one call.** `fashion_mnist.py` does all of the above, and keeps the
# run safe (a backup after every epoch, Ctrl-C that stops after the batch, files written
# whole); in a notebook its pictures appear inline too:
#
# ```python
# import fashion_mnist
# fashion_mnist.main(["--epochs", "1", "--limit", "5000"])
# ```
