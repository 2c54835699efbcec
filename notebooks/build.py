"""Make fashion_mnist.ipynb from fashion_mnist.py, its one source, so that the notebook
cannot drift from the code it teaches:

    python notebooks/build.py           # writes notebooks/fashion_mnist.ipynb
    python notebooks/build.py --check   # exit 1 if the .ipynb is not what the .py makes

The .py is in the "percent" format that Jupytext and VS Code read too: a line "# %%" opens a
code cell (``tags=[...]`` after it gives the cell's tags), "# %% [markdown]" a text cell
whose lines are comments. The notebook is written with no outputs.
"""

import argparse
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
        "cells": cells(SOURCE.read_text(encoding="utf-8")),
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"},
                     "language_info": {"name": "python"}},
        "nbformat": 4, "nbformat_minor": 5}, indent=1, ensure_ascii=False) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help=f"exit 1 if {NOTEBOOK.name} is not what {SOURCE.name} makes")
    args = parser.parse_args()  # a mistyped --check is an error, not a rewrite
    try:
        made = notebook()
        if args.check:
            if not NOTEBOOK.is_file() or NOTEBOOK.read_text(encoding="utf-8") != made:
                sys.exit(f"{NOTEBOOK.name} is not what {SOURCE.name} makes: run python "
                         f"notebooks/build.py")
            return
        partial = NOTEBOOK.with_name(f".{NOTEBOOK.name}.partial")
        partial.write_text(made, encoding="utf-8")
        partial.replace(NOTEBOOK)  # whole, or not at all
    except (OSError, ValueError) as error:  # a missing or undecodable source, a bad tag
        sys.exit(f"error: {error}")
    print(f"wrote {NOTEBOOK}")


if __name__ == "__main__":
    main()
