"""What the book's pages add to Jupyter Book: author-year references, a closing reference list in
every chapter, the "List of results" page, and the book's stylesheet.

- The bibliography labels its entries the way the text cites them ("Mei et al., 2018"), with the
  pybtex label style ``authoryear`` (registered here, selected by ``bibtex_default_style``).
- Every chapter ends with a "References" section listing, in that style, the works it cites.
- ``{results-list}`` on a page becomes the list of every numbered theorem-like box of the book,
  chapter by chapter, each linked to its box (in place of sphinx-proof's unlinked domain index).
- Code is highlighted in colours that pass WCAG contrast, and the finished pages are corrected where
  the theme's templates fail an accessibility check or load a script no page needs.
"""
from __future__ import annotations

import functools
import pathlib
import re

from docutils import nodes
from pybtex.database import parse_file
from pybtex.plugin import find_plugin, register_plugin
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from sphinx.util.docutils import SphinxDirective
from sphinxcontrib.bibtex.citation_target import parse_citation_targets

# --------------------------------------------------------------------------- author-year labels

def authors(entry) -> str:
    """'Mei et al.', 'Chizat and Bach', 'Sznitman': the authors as a citation names them."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    names = [" ".join(p.last_names) for p in people]
    return (names[0] if len(names) == 1 else " and ".join(names) if len(names) == 2
            else f"{names[0]} et al." if names else entry.key)


def author_year(entry) -> str:
    """'Mei et al., 2018', as ``{cite:p}`` writes the citation."""
    return f"{authors(entry)}, {entry.fields.get('year', 'n.d.')}"


def disambiguate(entries) -> None:
    """Give works with the same authors and year the years 2020a, 2020b, ... (by key), in place,
    so that their labels and citations differ."""
    groups: dict[str, list] = {}
    for entry in entries.values():
        groups.setdefault(author_year(entry), []).append(entry)
    for same in groups.values():
        if len(same) > 1 and all(e.fields.get("year", "").isdigit() for e in same):
            for suffix, entry in zip("abcdefghij", sorted(same, key=lambda e: e.key)):
                entry.fields["year"] = entry.fields.get("year", "n.d.") + suffix


def _disambiguate_cited(app, env):
    disambiguate(env.get_domain("cite").bibdata.data.entries)


class AuthorYearLabels(BaseLabelStyle):
    def format_labels(self, sorted_entries):
        for entry in sorted_entries:
            yield author_year(entry)


class AuthorYearStyle(PlainStyle):
    default_label_style = "authoryear"
    default_sorting_style = "author_year_title"


register_plugin("pybtex.style.labels", "authoryear", AuthorYearLabels)
register_plugin("pybtex.style.formatting", "authoryear", AuthorYearStyle)


# --------------------------------------------------------------------------- chapter references

@functools.lru_cache(maxsize=None)
def _bibliography(path: pathlib.Path):
    """The entries of the book's .bib file, parsed once, years disambiguated."""
    entries = parse_file(str(path)).entries
    disambiguate(entries)
    return entries


def _chapter_references(app, doctree):
    """Append a "References" section with the works the chapter cites, in citation order."""
    docname = app.env.docname
    if not docname.startswith("chapters/") or docname.endswith("preface"):
        return
    keys: list[str] = []
    for ref in doctree.findall(lambda n: isinstance(n, nodes.Element) and n.get("refdomain") == "cite"):
        for target in parse_citation_targets(ref["reftarget"]):
            if target.key not in keys:
                keys.append(target.key)
    sections = [s for s in doctree.children if isinstance(s, nodes.section)]
    if not keys or not sections:
        return
    entries = _bibliography(pathlib.Path(app.srcdir) / app.config.bibtex_bibfiles[0])
    keys = [k for k in keys if k in entries]  # an unknown key: the cite role reports it
    style, backend = AuthorYearStyle(), find_plugin("pybtex.backends", "docutils")()
    items = nodes.bullet_list(classes=["mfbook-references"])
    for entry in style.format_entries([entries[k] for k in keys]):
        para = nodes.paragraph()
        para += nodes.strong(text=author_year(entries[entry.key]) + ". ")
        para += entry.text.render(backend)
        items += nodes.list_item("", para)
    section = nodes.section(ids=["chapter-references"], names=["references"])
    section += nodes.title(text="References")
    section += items
    sections[-1] += section


# --------------------------------------------------------------------------- list of results

class results_list(nodes.General, nodes.Element):
    """Placeholder filled once every box has its number."""


class ResultsList(SphinxDirective):
    def run(self):
        return [results_list()]


def _collect_boxes(app, doctree):
    boxes = app.env.mfbook_boxes = getattr(app.env, "mfbook_boxes", {})
    found = []
    for node in doctree.findall(nodes.Element):
        if node.get("label") and node.get("realtype") and node.get("countertype"):
            found.append((node["label"], node["realtype"], node["countertype"], node.get("title", "")))
    boxes[app.env.docname] = found


def _purge(app, env, docname):
    getattr(env, "mfbook_boxes", {}).pop(docname, None)


def _merge(app, env, docnames, other):
    env.mfbook_boxes = {**getattr(env, "mfbook_boxes", {}),
                        **{d: v for d, v in getattr(other, "mfbook_boxes", {}).items() if d in docnames}}


def _fill_results(app, doctree, fromdocname):
    env, builder = app.env, app.builder
    for placeholder in list(doctree.findall(results_list)):
        content = []
        for docname in _toc_order(env):
            boxes = getattr(env, "mfbook_boxes", {}).get(docname, [])
            if not boxes:
                continue
            section = nodes.rubric(text=env.titles[docname].astext())
            items = nodes.bullet_list(classes=["mfbook-results"])
            for label, realtype, countertype, title in boxes:
                number = ".".join(map(str, env.toc_fignumbers.get(docname, {})
                                      .get(countertype, {}).get(label, ())))
                ref = nodes.reference("", "", internal=True,
                                      refuri=builder.get_relative_uri(fromdocname, docname) + "#" + label)
                ref += nodes.strong(text=f"{realtype.title()} {number}".strip())
                para = nodes.paragraph()
                para += ref
                if title:
                    para += nodes.Text(" ")
                    para += _with_math(title)
                items += nodes.list_item("", para)
            content += [section, items]
        placeholder.replace_self(content)
        # titles carry inline math: the page needs MathJax, which Sphinx loads where it saw math
        env.get_domain("math").data.setdefault("has_equations", {})[fromdocname] = True


def _with_math(text: str) -> list[nodes.Node]:
    """A box title with its $...$ parts as inline math."""
    parts = text.split("$")
    return [nodes.math(p, p) if k % 2 else nodes.Text(p) for k, p in enumerate(parts) if p]


def _toc_order(env):
    """Documents in the order the table of contents reads them."""
    order, stack = [], [env.config.root_doc]
    while stack:
        doc = stack.pop(0)
        order.append(doc)
        stack = list(env.toctree_includes.get(doc, [])) + stack
    return order


def _theme(app, config):
    """Code highlighting with colours that pass WCAG AA contrast (accessible-pygments)."""
    config.html_theme_options["pygments_light_style"] = "a11y-high-contrast-light"
    config.html_theme_options["pygments_dark_style"] = "a11y-high-contrast-dark"


# What the theme's templates write, and what the book serves instead: every page passes axe-core
# (no critical or serious violation) and loads no script it does not need.
PAGE_FIXES = [
    # Font Awesome's 1.5 MB JavaScript renders the same icons the theme's CSS webfont already does
    (re.compile(r'\s*<script defer src="[./]*_static/scripts/fontawesome\.js[^"]*"></script>'), ""),
    # a role=list whose children are not list items (the bibliography): a plain container
    (re.compile(r'<div role="list" class="citation-list">'), '<div class="citation-list">'),
    # accessible names that hide the visible text ("Search Ctrl+K", "Show code cell source")
    (re.compile(r'(<button class="btn search-button-field[^"]*") title="Search" aria-label="Search"'),
     r"\1"),
    (re.compile(r'<summary aria-label="Toggle hidden content">'), "<summary>"),
    # the sidebar's toggle of a chapter's sections is an icon alone: give it a name
    (re.compile(r'(<details(?: open="open")?>)<summary>(<span class="toctree-toggle")'),
     r'\1<summary aria-label="Sections">\2'),
    # the colour-mode icons are decoration: the button's name is "Color mode"
    (re.compile(r'<i class="theme-switch '), '<i aria-hidden="true" class="theme-switch '),
]


def _finish_site(app, exception):
    """Apply PAGE_FIXES to every page; drop the theme's source maps (3 MB, for debugging the
    theme) and the Font Awesome script no page loads any more."""
    if exception is not None or app.builder.format != "html":
        return
    out = pathlib.Path(app.outdir)
    for page in out.rglob("*.html"):
        text = original = page.read_text(encoding="utf-8")
        for pattern, replacement in PAGE_FIXES:
            text = pattern.sub(replacement, text)
        if text != original:
            page.write_text(text, encoding="utf-8")
    for path in [*out.joinpath("_static").rglob("*.map"), out / "_static/scripts/fontawesome.js"]:
        path.unlink(missing_ok=True)


def setup(app):
    app.connect("config-inited", _theme)
    app.connect("build-finished", _finish_site)
    app.add_node(results_list)
    app.add_directive("results-list", ResultsList)
    app.connect("env-updated", _disambiguate_cited, priority=100)  # before the bibliography formats
    app.connect("doctree-read", _chapter_references, priority=400)  # before the toc is collected
    app.connect("doctree-read", _collect_boxes)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("doctree-resolved", _fill_results)
    app.add_css_file("mfbook.css")  # _ext/static, on the static path (tools/repository.py)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
