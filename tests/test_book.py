"""The book builds from a clean state with zero warnings (-W -n --keep-going)."""
import re


def test_book_builds_without_warnings(built_book):
    warnings = [line for line in built_book.log.splitlines() if re.search(r"WARNING|ERROR", line)]
    assert built_book.returncode == 0 and not warnings, (
        "the book build failed or warned:\n" + "\n".join(warnings or built_book.log.splitlines()[-30:]))
    assert (built_book.html / "index.html").exists()
