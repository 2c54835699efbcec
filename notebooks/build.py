"""Make fashion_mnist.ipynb from fashion_mnist.py, its one source, so that the notebook
cannot drift from the code it teaches:

    python notebooks/build.py           # writes notebooks/fashion_mnist.ipynb
    python notebooks/build.py --check   # exit 1 if the .ipynb is not what the .py makes

The .py is in the "percent" format that Jupytext and VS Code read too: a line "# %%" opens a
code cell (``tags=[...]`` after it gives the cell's tags), "# %% [markdown]" a text cell
whose lines are comments. The notebook is written with no outputs.
"""

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE, NOTEBOOK = HERE / "fashion_mnist.py", HERE / "fashion_mnist.ipynb"


def cells(text):
    """The notebook's cells, as nbformat 4 has them, from the percent-format ``text``."""
    made = []
    for chunk in re.split(r"^(?=# %%)", text, flags=re.MULTILINE):
        if not chunk.startswith("# %%"):
            continue
        header, _, body = chunk.partition("\n")
        lines = body.strip("\n").split("\n")
        if "[markdown]" in header:
            source = [line[2:] if line.startswith("# ") else line.lstrip("#") for line in lines]
            cell = {"cell_type": "markdown", "metadata": {}}
        else:
            tags = re.search(r"tags=(\[.*\])", header)
            cell = {"cell_type": "code", "execution_count": None,
                    "metadata": {"tags": json.loads(tags.group(1))} if tags else {},
                    "outputs": []}
            source = lines
        cell["source"] = [line + "\n" for line in source[:-1]] + source[-1:]
        cell["id"] = f"cell-{len(made) + 1}"  # nbformat 4.5's ids, the same at every build
        made.append(cell)
    return made


def notebook():
    """The whole notebook, as JSON text."""
    return json.dumps({
        "cells": cells(SOURCE.read_text()),
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1, ensure_ascii=False) + "\n"


def main():
    if "--check" in sys.argv[1:]:
        if NOTEBOOK.read_text() != notebook():
            sys.exit(f"{NOTEBOOK.name} is not what {SOURCE.name} makes: run python "
                     f"notebooks/build.py")
        return
    NOTEBOOK.write_text(notebook())
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
