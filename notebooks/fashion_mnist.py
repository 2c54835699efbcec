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
if not any(importlib.util.find_spec(backend) for backend in ("tensorflow", "jax", "torch")):
    needed["tensorflow"] = "tensorflow"  # Keras's default backend
missing = [package for module, package in needed.items() if not importlib.util.find_spec(module)]
if missing:
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)

# %% [markdown]
# **Listing: the imports.** As the chapter's, on Keras 3 (`keras.utils`, not
# `keras.utils.np_utils`). Three helpers of this project stand in where the chapter's code
# no longer runs: `backend.start()` starts Keras as `fashion_mnist.py` does (quietly, with
# the same kernels), `load_fashion_mnist` reads the data from disk without internet, and
# `keras2_decay` is Keras 2's `decay`, which Keras 3's `SGD` no longer takes.

# %%
from pyimagesearch.training import backend

keras = backend.start()

import cv2
import matplotlib.pyplot as plt
import numpy as np
from imutils import build_montages
from sklearn.metrics import classification_report

from pyimagesearch import display
from pyimagesearch.datasets import load_fashion_mnist
from pyimagesearch.minivggnet import MiniVGGNet
from pyimagesearch.schedules import keras2_decay

# %% [markdown]
# **Listing: the number of epochs, the learning rate and the batch size.** `LIMIT` and
# `SEED` are this notebook's: a quick try, and a run to reproduce.

# %% tags=["parameters"]
NUM_EPOCHS = 25
INIT_LR = 1e-2
BS = 32
LIMIT = None  # train on the first LIMIT images only (None: all 60,000)
SEED = None  # a number: the same weights, batches and report every time

# %% [markdown]
# **Listing: loading Fashion-MNIST.** From disk when the four files are there (Debian's
# package, Keras's cache, `FASHION_MNIST_DIR`), else Keras's download.

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
# **Listing: scaling to [0, 1], and one-hot labels.**

# %%
trainX = trainX.astype("float32") / 255.0
testX = testX.astype("float32") / 255.0

trainY = keras.utils.to_categorical(trainY, 10)
testY = keras.utils.to_categorical(testY, 10)

# %% [markdown]
# **Listing: the label names.**

# %%
labelNames = ["top", "trouser", "pullover", "dress", "coat",
              "sandal", "shirt", "sneaker", "bag", "ankle boot"]

# %% [markdown]
# **Listing: the optimizer and the model, compiled.** Keras 2's `decay` lowered the rate
# after every update, `INIT_LR / (1 + decay * t)`; `keras2_decay` is that schedule. With
# `SEED`, `backend.make_deterministic` seeds Keras and asks the backend for deterministic
# arithmetic.

# %%
if SEED is not None:
    backend.make_deterministic(SEED)
print("[INFO] compiling model...")
opt = keras.optimizers.SGD(learning_rate=keras2_decay(INIT_LR, INIT_LR / NUM_EPOCHS),
                           momentum=0.9)
model = MiniVGGNet.build(width=28, height=28, depth=1, classes=10)
model.compile(loss="categorical_crossentropy", optimizer=opt, metrics=["accuracy"])

# %% [markdown]
# **Listing: training, validated on the test set after every epoch.**

# %%
print("[INFO] training model...")
H = model.fit(x=trainX, y=trainY, validation_data=(testX, testY), batch_size=BS,
              epochs=NUM_EPOCHS)

# %% [markdown]
# **Listing: predictions on the test set, and the classification report.**

# %%
print("[INFO] evaluating network...")
preds = model.predict(testX, verbose=0)
print(classification_report(testY.argmax(axis=1), preds.argmax(axis=1),
                            target_names=labelNames))

# %% [markdown]
# **Listing: the plot of the training loss and accuracy**, saved as plot.png (Keras 3
# names the accuracy `"accuracy"`, Keras 2 `"acc"`).

# %%
N = NUM_EPOCHS
plt.style.use("ggplot")
plt.figure()
plt.plot(np.arange(0, N), H.history["loss"], label="train_loss")
plt.plot(np.arange(0, N), H.history["val_loss"], label="val_loss")
plt.plot(np.arange(0, N), H.history["accuracy"], label="train_acc")
plt.plot(np.arange(0, N), H.history["val_accuracy"], label="val_acc")
plt.title("Training Loss and Accuracy on Dataset")
plt.xlabel("Epoch #")
plt.ylabel("Loss/Accuracy")
plt.legend(loc="lower left")
plt.savefig("plot.png")
plt.show()

# %% [markdown]
# **Listing: 16 test images, each with its predicted label, in a montage** (green: right;
# red: wrong). The chapter shows it with `cv2.imshow`, which ends the process where there
# is no display; `display.show_window` shows it here, and in a window where there is one.

# %%
images = []
for i in np.random.default_rng(SEED).choice(len(testY), size=16, replace=False):
    prediction = preds[i].argmax()
    label = labelNames[prediction]
    if keras.backend.image_data_format() == "channels_first":
        image = (testX[i][0] * 255).astype("uint8")
    else:
        image = (testX[i] * 255).astype("uint8")
    color = (0, 255, 0) if prediction == testY[i].argmax() else (0, 0, 255)
    image = cv2.merge([image] * 3)
    image = cv2.resize(image, (96, 96), interpolation=cv2.INTER_LINEAR)
    cv2.putText(image, label, (5, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.75, color, 2)
    images.append(image)

montage = build_montages(images, (96, 96), (4, 4))[0]
cv2.imwrite("montage.png", montage)
display.show_window(montage, "montage.png")

# %% [markdown]
# **The whole run in one call.** `fashion_mnist.py` does all of the above, faster (batches
# scaled as training asks for them; on TensorFlow, a fused batch norm), and keeps the run
# safe (a backup after every epoch, Ctrl-C that stops after the batch, files written
# whole); in a notebook its pictures appear inline too:
#
# ```python
# import fashion_mnist
# fashion_mnist.main(["--epochs", "1", "--limit", "5000"])
# ```
