"""No non-test module of shared/src is over 400 lines.

A module's non-test lines are the lines of its file before its inline test
module (a `#[cfg(test)]` followed by `mod name {`); a file that is itself a
test module (declared `#[cfg(test)] mod name;` by its parent, such as
`delivery/tests.rs`) is not counted at all. A module whose tests are in
another file counts its whole file.

Run: `.venv/bin/python -m unittest tests/checks/test_code_size.py` (part of
`make template-tests`), or `python3 tests/checks/test_code_size.py` to print every
module's count, longest first.
"""

import pathlib
import re
import sys
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SRC = ROOT / "shared" / "src"
LIMIT = 400

CFG_TEST = re.compile(r"^\s*#\[cfg\(test\)\]\s*$")
ATTRIBUTE = re.compile(r"^\s*#\[")
MOD_BLOCK = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?mod\s+\w+\s*\{")
MOD_FILE = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?mod\s+(\w+)\s*;")


def _after_cfg_test(lines, index):
    """The first line after the attributes that start at `index`."""
    index += 1
    while index < len(lines) and ATTRIBUTE.match(lines[index]):
        index += 1
    return lines[index] if index < len(lines) else ""


def non_test_lines(text):
    """The number of lines before the file's inline test module."""
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if CFG_TEST.match(line) and MOD_BLOCK.match(_after_cfg_test(lines, index)):
            return index
    return len(lines)


def test_module_files(src=SRC):
    """The files that are test modules, declared `#[cfg(test)] mod name;`."""
    found = set()
    for path in src.rglob("*.rs"):
        lines = path.read_text().splitlines()
        if path.name in ("mod.rs", "lib.rs", "main.rs"):
            directory = path.parent
        else:
            directory = path.parent / path.stem
        for index, line in enumerate(lines):
            if not CFG_TEST.match(line):
                continue
            declared = MOD_FILE.match(_after_cfg_test(lines, index))
            if declared:
                name = declared.group(3)
                found.add(directory / f"{name}.rs")
                found.add(directory / name / "mod.rs")
    return found


def module_sizes(src=SRC):
    """Every non-test module of `src` with its non-test lines, longest first."""
    tests = test_module_files(src)
    sizes = [
        (non_test_lines(path.read_text()), path.relative_to(src.parent.parent))
        for path in sorted(src.rglob("*.rs"))
        if path not in tests
    ]
    return sorted(sizes, key=lambda size: (-size[0], str(size[1])))


class CodeSizeTest(unittest.TestCase):
    def test_no_non_test_module_of_shared_src_is_over_the_limit(self):
        over = [(lines, path) for lines, path in module_sizes() if lines > LIMIT]
        if over:
            self.fail(
                f"modules of shared/src over {LIMIT} non-test lines "
                "(split them by concern):\n"
                + "\n".join(f"  {path}: {lines}" for lines, path in over)
            )

    def test_the_count_stops_at_the_inline_test_module(self):
        text = "\n".join(
            [
                "mod a;",
                "#[cfg(test)]",
                "mod helper_tests;",
                "fn f() {}",
                "#[cfg(test)]",
                "#[allow(dead_code)]",
                "fn only_in_tests() {}",
                "#[cfg(test)]",
                "mod tests {",
                "    fn t() {}",
                "}",
            ]
        )
        self.assertEqual(non_test_lines(text), 7)

    def test_a_file_without_tests_counts_whole(self):
        self.assertEqual(non_test_lines("fn f() {}\nfn g() {}\n"), 2)

    def test_test_module_files_are_not_counted(self):
        counted = {str(path) for _, path in module_sizes()}
        self.assertIn("shared/src/lib.rs", counted)
        for path in test_module_files():
            self.assertNotIn(str(path.relative_to(ROOT)), counted)


if __name__ == "__main__":
    if sys.argv[1:] == []:
        for lines, path in module_sizes():
            print(f"{lines:5d} {path}")
    else:
        unittest.main()
