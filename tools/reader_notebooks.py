"""Reader copies of the chapter notebooks: the same code cells and stored outputs, with the MyST
markup rendered as plain Markdown, so that Colab and any Jupyter show the text as the book does.

    python tools/reader_notebooks.py --html _build/html --out _build/html/notebooks

Directives become headed blocks (**Theorem 3.1 (Coupling estimate).**), solutions `<details>`
blocks, roles their rendered text with the book's numbers, citations author–year with a reference
list at the end, and every figure's caption a Markdown cell under it. The numbers are read from
the built HTML book, so they are the book's own. Markup this tool does not know is an error, never
passed through.
"""
from __future__ import annotations

import argparse
import copy
import json
import pathlib
import re
import sys

from bs4 import BeautifulSoup
from pybtex.database import parse_file
from pybtex.style.formatting.plain import Style

import repository

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "_ext"))
from book_pages import author_year, authors, disambiguate  # noqa: E402  (the book's extension)

NUMBERED = ("prf:definition", "prf:theorem", "prf:proposition", "prf:lemma", "prf:corollary",
            "prf:example", "prf:remark", "prf:assumption", "prf:conjecture", "exercise")
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,})\{(?P<name>[\w:-]+)\}[ \t]*(?P<arg>.*)$")
PLAIN_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
ROLE = re.compile(r"\{(?P<role>[\w:-]+)\}`(?P<body>[^`]*)`")
LABEL_LINE = re.compile(r"^\([\w.:-]+\)=\s*$")
EQ_LABEL = re.compile(r"^\$\$ \((?P<label>[\w.:-]+)\)\s*$")  # the closing $$ of a labelled display
MYST_LEFTOVER = re.compile(r"\{[\w:-]+\}`|^\s*(`{3,}|:{3,})\s*\{|^\([\w.:-]+\)=\s*$", re.M)


class ConversionError(ValueError):
    """Markup the converter cannot render faithfully."""


# --------------------------------------------------------------------------- what the book shows

class Book:
    """Numbers and titles as the built HTML book shows them, and the bibliography."""

    def __init__(self, html: pathlib.Path, repo: repository.Repository, bib: pathlib.Path):
        self.html, self.repo = html, repo
        self.targets: dict[str, tuple[str, str]] = {}  # label -> (number text, title)
        self.boxes: dict[str, list[tuple[str, str]]] = {}  # page -> [(kind, number text)] in order
        self.pages: dict[str, str] = {}  # docname -> title
        for page in sorted(html.glob("**/*.html")):
            self._read(page)
        self.bib = parse_file(str(bib))
        disambiguate(self.bib.entries)  # 2020a, 2020b: the labels the HTML book shows
        self._style = Style()

    def _read(self, page: pathlib.Path) -> None:
        soup = BeautifulSoup(page.read_text(), "html.parser")
        main = soup.find("main") or soup
        doc = page.relative_to(self.html).with_suffix("").as_posix()
        h1 = main.find("h1")
        if h1 is not None:
            for a in h1.find_all("a", class_="headerlink"):
                a.decompose()
            self.pages[doc] = h1.get_text(" ", strip=True).replace("\xa0", " ")
        boxes = []
        for title in main.select("p.admonition-title"):
            number = title.find("span", class_="caption-number")
            box = title.parent
            if number is None or box is None:
                continue
            kind = number.get_text(strip=True).split()[0].lower()
            rest = title.get_text(" ", strip=True)[len(number.get_text(" ", strip=True)):].strip()
            boxes.append((kind, number.get_text(" ", strip=True)))
            if box.get("id"):
                self.targets[box["id"]] = (number.get_text(" ", strip=True), rest.strip("() "))
        self.boxes[doc] = boxes
        for eq in main.select("div.math[id]"):
            eqno = eq.find("span", class_="eqno")
            if eqno is not None and eq["id"].startswith("equation-"):
                for a in eqno.find_all("a"):
                    a.decompose()
                self.targets[eq["id"][len("equation-"):]] = (eqno.get_text(strip=True), "")
        for figure in main.find_all("figure"):
            number = figure.find("span", class_="caption-number")
            text = figure.find("span", class_="caption-text")
            if figure.get("id") and number is not None:
                self.targets[figure["id"]] = (number.get_text(" ", strip=True),
                                              text.get_text(" ", strip=True) if text else "")
        for span in main.find_all("span", id=True):  # (label)= targets before a heading
            heading = span.find_next_sibling(re.compile("h[1-6]"))
            if heading is None:
                continue
            number = heading.find("span", class_="section-number")
            for a in heading.find_all("a", class_="headerlink"):
                a.decompose()
            title = heading.get_text(" ", strip=True)
            num = number.get_text(strip=True).rstrip(".") if number else ""
            self.targets[span["id"]] = (num, title[len(number.get_text(" ", strip=True)):].strip()
                                        if number else title)

    def target(self, label: str) -> tuple[str, str]:
        if label not in self.targets:
            raise ConversionError(f"unknown label {label!r}")
        return self.targets[label]

    def cite(self, keys: list[str], textual: bool) -> str:
        parts = []
        for key in keys:
            if key not in self.bib.entries:
                raise ConversionError(f"unknown citation key {key!r}")
            entry = self.bib.entries[key]
            parts.append(f"{authors(entry)} ({entry.fields.get('year', 'n.d.')})" if textual
                         else author_year(entry))
        return "; ".join(parts) if textual else f"({'; '.join(parts)})"

    def reference_list(self, keys: list[str]) -> str:
        entries = [self.bib.entries[k] for k in keys]
        formatted = self._style.format_entries(entries)
        return "\n".join("- " + " ".join(e.text.render_as("markdown").split("\n"))
                         for e in formatted)


# --------------------------------------------------------------------------- Markdown rendering

class Chapter:
    """Renders one notebook's MyST, numbering its boxes in the order the HTML page shows them."""

    def __init__(self, book: Book, doc: str):
        self.book, self.doc = book, doc
        self.boxes = list(book.boxes.get(doc, []))
        self.cited: list[str] = []

    def roles(self, text: str) -> str:
        def render(m: re.Match) -> str:
            role, body = m["role"], m["body"]
            explicit = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", body)
            shown, label = (explicit[1], explicit[2]) if explicit else (None, body.strip())
            if role in ("cite", "cite:p", "cite:t"):
                keys = [k.strip() for k in label.split(",")]
                self.cited += [k for k in keys if k not in self.cited]
                return self.book.cite(keys, textual=role == "cite:t")
            if role == "numref":
                number, _ = self.book.target(label)
                bare = number.split()[-1]
                return shown.replace("%s", bare) if shown else number
            if role in ("ref", "prf:ref"):
                number, title = self.book.target(label)
                if shown:
                    return shown
                return number if role == "prf:ref" else (title or number)
            if role == "doc":
                doc = str(pathlib.PurePosixPath(self.doc).parent / label)
                title = self.book.pages.get(doc)
                if title is None:
                    raise ConversionError(f"unknown page {label!r}")
                return f"[{shown or title}]({self.book.repo.site}{doc}.html)"
            if role in ("py:func", "py:class", "py:meth"):
                name = label.lstrip("~")
                return f"[`{shown or name}`]({self.book.repo.site}appendix/api.html#{name})"
            if role == "math":
                return f"${body}$"
            if role == "eq":
                return self.book.target(label)[0]
            raise ConversionError(f"unknown role {{{role}}}")

        return ROLE.sub(render, text)

    def _number(self, name: str) -> str:
        kind = name.split(":")[-1]
        if not self.boxes or self.boxes[0][0] != kind:
            raise ConversionError(f"{self.doc}: a {name} box the HTML page does not number here")
        return self.boxes.pop(0)[1]

    def directive(self, name: str, arg: str, options: dict, body: str) -> str:
        body = self.markdown(body).strip("\n")
        title = self.roles(arg.strip())
        if name in NUMBERED:
            head = self._number(name) + (f" ({title})" if title else "")
            return _quote(f"**{head}.** {body}")
        if name == "prf:proof":
            return _quote(f"*Proof.* {body} $\\square$")
        if name == "solution":
            number, _ = self.book.target(arg.strip())
            return f"<details>\n<summary>Solution to {number}</summary>\n\n{body}\n\n</details>"
        raise ConversionError(f"unknown directive {{{name}}}")

    def markdown(self, text: str) -> str:
        lines, out, i = text.split("\n"), [], 0
        while i < len(lines):
            line = lines[i]
            m = FENCE.match(line)
            if m:
                end, options, body = _block(lines, i, m)
                out.append(self.directive(m["name"], m["arg"], options, "\n".join(body)))
                i = end + 1
                continue
            plain = PLAIN_FENCE.match(line)
            if plain:  # a code block: copied verbatim
                j = i + 1
                while j < len(lines) and not lines[j].strip().startswith(plain[1]):
                    j += 1
                out.extend(lines[i: j + 1])
                i = j + 1
                continue
            eq = EQ_LABEL.match(line)
            if eq:  # a numbered display: the book's number as a TeX tag
                out += [f"\\tag{{{self.book.target(eq['label'])[0].strip('()')}}}", "$$"]
            elif not LABEL_LINE.match(line):
                out.append(self.roles(line))
            i += 1
        return "\n".join(out)


def _block(lines: list[str], start: int, m: re.Match) -> tuple[int, dict, list[str]]:
    """The directive opened at `start`: (closing line, options, body lines)."""
    char, n = m["fence"][0], len(m["fence"])
    close = re.compile(rf"^\s*{re.escape(char)}{{{n},}}\s*$")
    depth, j = 0, start + 1
    while j < len(lines):
        inner = FENCE.match(lines[j])
        if inner and inner["fence"][0] == char and len(inner["fence"]) >= n:
            depth += 1
        elif close.match(lines[j]):
            if depth == 0:
                break
            depth -= 1
        j += 1
    else:
        raise ConversionError(f"unclosed directive {{{m['name']}}}")
    body = lines[start + 1: j]
    options = {}
    while body and re.match(r"^\s*:[\w-]+:", body[0]):
        key, _, value = body.pop(0).strip()[1:].partition(":")
        options[key] = value.strip()
    return j, options, body


def _quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.split("\n"))


# --------------------------------------------------------------------------- notebooks

def convert(source: pathlib.Path, book: Book, version: str) -> dict:
    """The reader copy of one chapter notebook."""
    notebook = json.loads(source.read_text())
    doc = source.relative_to(ROOT).with_suffix("").as_posix()
    chapter = Chapter(book, doc)
    cells = []
    page = f"{book.repo.site}{doc}.html"
    cells.append(_markdown("reader-note",
        f"*This notebook is a chapter of [{book.pages.get('intro', 'the book')}]({book.repo.site}), "
        f"version {version}, with the book's markup rendered as plain Markdown; the book's page is "
        f"[here]({page}). Run it from the top: the first code cell installs `mfutils` where it is "
        "missing.*"))
    for cell in notebook["cells"]:
        cell = copy.deepcopy(cell)
        if cell["cell_type"] == "markdown":
            cell["source"] = _lines(chapter.markdown("".join(cell["source"])))
            cells.append(cell)
            continue
        cells.append(cell)
        figure = cell.get("metadata", {}).get("mystnb", {}).get("figure")
        if figure:
            number, _ = book.target(figure["name"])
            cells.append(_markdown(f"caption-{figure['name']}",
                                   f"**{number}.** {chapter.roles(figure['caption'])}"))
    if chapter.boxes:
        raise ConversionError(f"{doc}: the HTML page numbers boxes the notebook does not have: "
                              f"{chapter.boxes}")
    if chapter.cited:
        cells.append(_markdown("works-cited", "## Works cited in this chapter\n\n"
                               + book.reference_list(chapter.cited)))
    notebook["cells"] = cells
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    left = MYST_LEFTOVER.search(text)
    if left:
        raise ConversionError(f"{doc}: MyST markup left in the copy: {left.group(0)!r}")
    return notebook


def _markdown(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": _lines(text)}


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=pathlib.Path, default=ROOT / "_build" / "html",
                        help="the built HTML book (its numbers are the copies' numbers)")
    parser.add_argument("--out", type=pathlib.Path, default=None,
                        help=f"output folder (default: <html>/{repository.READER_DIR})")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").exists():
        print(f"error: no built book in {args.html}: run `make book` first", file=sys.stderr)
        return 1
    out = args.out or args.html / repository.READER_DIR
    book = Book(args.html, repository.load(ROOT), ROOT / "references.bib")
    out.mkdir(parents=True, exist_ok=True)
    for source in repository.chapter_notebooks(ROOT):
        copy_ = convert(source, book, repository.version(ROOT))
        (out / source.name).write_text(json.dumps(copy_, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {(out / source.name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
