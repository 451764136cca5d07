"""The docs against the tree, so that they cannot go stale unnoticed.

* The layout (the `## Layout` section of docs/architecture.md) names every
  tracked file under shared/, functions/, cli/, infra/, tests/ and schemas/: a
  file by its path, or, if it is not Rust, by a folder above it (a path
  ending in `/`). Every path it names exists in `git ls-files`.
* Every link of every tracked Markdown file that is not a web address
  resolves: its path (relative to the file) is a tracked file or folder,
  and its `#anchor`, in a Markdown file, is one of that file's headings.

    .venv/bin/python -m unittest tests/checks/test_docs.py
"""

import pathlib
import re
import subprocess
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAYOUT_PAGE = "docs/architecture.md"
# The folders whose every file the layout must account for.
SCOPE = ("shared/", "functions/", "cli/", "infra/", "tests/", "schemas/")


def tracked():
    """Every file git tracks (deleted files in the work tree excluded)."""
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    names = [name for name in out.decode("utf-8").split("\0") if name]
    return {name for name in names if (ROOT / name).exists()}


def outside_fences(text):
    """The lines of a Markdown text that are not inside a ``` block."""
    lines, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
            continue
        if not fence:
            lines.append(line)
    return lines


def layout_section():
    """The `## Layout` section of the layout page, up to the next `## `."""
    text = (ROOT / LAYOUT_PAGE).read_text(encoding="utf-8")
    parts = text.split("\n## Layout\n", 1)
    if len(parts) != 2:
        raise AssertionError(f"{LAYOUT_PAGE} has no `## Layout` section")
    return parts[1].split("\n## ", 1)[0]


def layout_paths():
    """The paths the layout's table rows name in their first cell."""
    paths = []
    for line in layout_section().splitlines():
        if not line.startswith("| `"):
            continue
        first_cell = line.split("|")[1]
        paths += re.findall(r"`([^`]+)`", first_cell)
    return paths


def slug(heading):
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path):
    """The anchors of a Markdown file's headings."""
    text = path.read_text(encoding="utf-8")
    return {slug(m.group(1)) for line in outside_fences(text) if (m := re.match(r"^#{1,6} (.+)$", line))}


def links(text):
    """The link targets of a Markdown text, outside code blocks and spans."""
    targets = []
    for line in outside_fences(text):
        line = re.sub(r"`[^`]*`", "", line)
        targets += re.findall(r"\]\(([^)\s]+)\)", line)
    return targets


class Layout(unittest.TestCase):
    def setUp(self):
        self.files = tracked()
        self.named = layout_paths()

    def test_the_layout_names_some_files(self):
        self.assertGreater(len(self.named), 50)

    def test_every_named_path_exists(self):
        folders = {str(pathlib.PurePosixPath(name).parent) + "/" for name in self.files}
        for path in self.named:
            with self.subTest(path):
                if path.endswith("/"):
                    self.assertTrue(any(folder.startswith(path) for folder in folders), "no such folder")
                else:
                    self.assertTrue(path in self.files, "no such tracked file")

    def test_every_file_is_in_the_layout(self):
        files = set(self.named)
        folders = [path for path in self.named if path.endswith("/")]
        missing = []
        for name in sorted(self.files):
            if not name.startswith(SCOPE) or name in files:
                continue
            if name.endswith(".rs") or not any(name.startswith(folder) for folder in folders):
                missing.append(name)
        self.assertEqual(missing, [], f"not in the layout of {LAYOUT_PAGE}")


class Links(unittest.TestCase):
    def test_every_link_resolves(self):
        files = tracked()
        folders = {str(parent) for name in files for parent in pathlib.PurePosixPath(name).parents}
        pages = sorted(name for name in files if name.endswith(".md"))
        self.assertIn("README.md", pages)
        self.assertIn(LAYOUT_PAGE, pages)
        for page in pages:
            source = ROOT / page
            for target in links(source.read_text(encoding="utf-8")):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # a web address or mailto:
                with self.subTest(page=page, link=target):
                    path, _, anchor = target.partition("#")
                    if path:
                        resolved = (source.parent / path).resolve()
                        try:
                            relative = resolved.relative_to(ROOT).as_posix()
                        except ValueError:
                            self.fail("points outside the repository")
                        self.assertTrue(relative in files or relative in folders, "no such file or folder")
                    else:
                        resolved = source
                    if anchor and resolved.suffix == ".md":
                        self.assertIn(anchor, anchors(resolved), "no such heading")


if __name__ == "__main__":
    unittest.main()
