"""The README and docs/ name files, sections and commands of this repository: each must
exist, so that a reader who follows one lands somewhere. Reads the Markdown as text: no
Keras, no network, well under a second."""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

# modules that `python -m` runs from an installed package, not from this repository
EXTERNAL_MODULES = {"pip", "pytest", "venv"}
# a name without a folder is a project file only with one of these endings; other names
# (plot.png, fashion_mnist.keras, boot.jpg) are files a run writes or a user brings
PROJECT_SUFFIXES = (".py", ".txt", ".md", ".ipynb", ".ini", ".toml", ".cfg")

FENCE = re.compile(r"^ {0,3}(```|~~~)[^\n]*\n(.*?)^ {0,3}\1[ \t]*$", re.M | re.S)
CODE_SPAN = re.compile(r"`([^`]+)`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)[ \t#]*$", re.M)
PYTHON_M = re.compile(r"\bpython3?(?:\s+-[A-Za-z]\S*)*?\s+-m\s+([\w.]+)")
PYTHON_SCRIPT = re.compile(r"\bpython3?(?:\s+-[A-Za-z]\S*)*\s+([\w./-]+\.py)\b")


def blank(match):
    """The matched text as spaces, its line breaks kept, so that line numbers still hold."""
    return re.sub(r"[^\n]", " ", match.group(0))


def prose(text):
    """The text with fenced code blocks and code spans blanked out: what Markdown renders
    as links and headings."""
    return CODE_SPAN.sub(blank, FENCE.sub(blank, text))


def line_of(text, match):
    return text.count("\n", 0, match.start()) + 1


def slug(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped (hyphens and
    underscores kept), each space a hyphen."""
    heading = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def anchors(page):
    """The anchors of a Markdown file's headings, a repeated one numbered as GitHub does."""
    found = set()
    for match in HEADING.finditer(prose(page.read_text(encoding="utf-8"))):
        base = slug(match.group(1).strip())
        name, count = base, 0
        while name in found:
            count += 1
            name = f"{base}-{count}"
        found.add(name)
    return found


def links(page):
    """(line, target) of every link and image in a Markdown file, outside code."""
    text = prose(page.read_text(encoding="utf-8"))
    return [(line_of(text, m), m.group(1)) for m in LINK.finditer(text)]


def code(page):
    """(line, text) of every code span and fenced code block of a Markdown file."""
    text = page.read_text(encoding="utf-8")
    found = [(line_of(text, m) + 1, m.group(2)) for m in FENCE.finditer(text)]
    without_fences = FENCE.sub(blank, text)
    found += [(line_of(without_fences, m), " ".join(m.group(1).split()))
              for m in CODE_SPAN.finditer(without_fences)]
    return found


def named(page):
    return page.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("page", PAGES, ids=named)
def test_relative_links_and_images_resolve_from_their_file(page):
    wrong = []
    for line, target in links(page):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path) if path else page
        if not file.exists():
            where = os.path.relpath(file, ROOT).replace(os.sep, "/")
            wrong.append(f"{named(page)}:{line}: ({target}): {where} does not exist (a link "
                         f"is read from the folder of the file it is in)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            wrong.append(f"{named(page)}:{line}: ({target}): {named(file)} has no heading "
                         f"whose anchor is #{anchor}")
    assert not wrong, "\n".join(wrong)


def looks_like_project_file(name):
    """Whether a name in backticks is a path in this repository: a folder of the repository
    first (pyimagesearch/..., docs/..., tests/...), or a top-level file with a project
    file's ending (requirements-jax.txt, fashion_mnist.py)."""
    if not re.fullmatch(r"[\w.-]+(/[\w.-]*)*", name):
        return False
    first, slash, _ = name.partition("/")
    if slash:
        return (ROOT / first).is_dir() and not first.startswith(".git")
    return name.endswith(PROJECT_SUFFIXES)


def test_files_named_in_the_readmes_code_exist():
    wrong = []
    for line, snippet in code(README):
        for name in snippet.split():
            name = name.strip("\"'")
            if looks_like_project_file(name) and not (ROOT / name).exists():
                wrong.append(f"README.md:{line}: {name} is not in the repository")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("page", PAGES, ids=named)
def test_tests_named_in_the_docs_exist(page):
    text = page.read_text(encoding="utf-8")
    wrong = []
    for match in re.finditer(r"\btests/(?:\w+/)*test_\w+\.py(?:::(\w+))?", text):
        path, _, function = match.group(0).partition("::")
        where = f"{named(page)}:{line_of(text, match)}: {match.group(0)}"
        if not (ROOT / path).is_file():
            moved = sorted(f.relative_to(ROOT).as_posix()
                           for f in (ROOT / "tests").rglob(Path(path).name))
            now = f" (now {', '.join(moved)}?)" if moved else ""
            wrong.append(f"{where}: no such file{now}")
        elif function and not re.search(rf"^\s*def {function}\(",
                                          (ROOT / path).read_text(encoding="utf-8"), re.M):
            wrong.append(f"{where}: {path} has no test {function}")
    assert not wrong, "\n".join(wrong)


def test_modules_named_in_the_readme_exist():
    wrong = []
    for line, snippet in code(README):
        for name in re.findall(r"\bpyimagesearch(?:\.\w+)+", snippet):
            # each part after a package is one of its modules or packages; after a module,
            # a name defined in it (not checked: that would mean importing it)
            parts, folder = name.split("."), ROOT / "pyimagesearch"
            for part in parts[1:]:
                if (folder / part / "__init__.py").is_file():
                    folder = folder / part
                    continue
                if not (folder / f"{part}.py").is_file():
                    wrong.append(f"README.md:{line}: `{name}`: no module {part} in "
                                 f"{folder.relative_to(ROOT).as_posix()}/")
                break
    assert not wrong, "\n".join(wrong)


def test_commands_in_the_readme_run_something_that_exists():
    wrong = []
    for line, snippet in code(README):
        for module in PYTHON_M.findall(snippet):
            if module.split(".")[0] in EXTERNAL_MODULES:
                continue
            base = ROOT.joinpath(*module.split("."))
            file = next((f for f in (base.with_suffix(".py"), base / "__main__.py")
                         if f.is_file()), None)
            if file is None:
                wrong.append(f"README.md:{line}: `python -m {module}`: no {base.relative_to(ROOT)}"
                             f".py in the repository (an installed module? add it to "
                             f"EXTERNAL_MODULES)")
            elif file.name != "__main__.py" and "__main__" not in file.read_text("utf-8"):
                wrong.append(f"README.md:{line}: `python -m {module}`: "
                             f"{file.relative_to(ROOT)} has no `if __name__ == \"__main__\"`")
        for script in PYTHON_SCRIPT.findall(snippet):
            file = ROOT / script
            if not file.is_file():
                wrong.append(f"README.md:{line}: `python {script}`: {script} is not in the "
                             f"repository")
            elif "__main__" not in file.read_text("utf-8"):
                wrong.append(f"README.md:{line}: `python {script}`: {script} has no "
                             f"`if __name__ == \"__main__\"`")
    assert not wrong, "\n".join(wrong)


def test_the_code_reads_in_100_columns():
    files = [ROOT / "fashion_mnist.py", *sorted((ROOT / "pyimagesearch").rglob("*.py"))]
    wide = [f"{file.relative_to(ROOT)}:{number}: {len(line)} characters"
            for file in files
            for number, line in enumerate(file.read_text("utf-8").splitlines(), 1)
            if len(line) > 100]
    assert not wide, "\n".join(wide)
