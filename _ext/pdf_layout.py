"""The PDF (LaTeX builder) numbered and laid out like the HTML book.

- The preface is an unnumbered chapter, so LaTeX's chapter counter, the figures' numbers and every
  "Chapter n" reference agree with the HTML book (chapter 1 is the first of the numbered part).
- Theorems, definitions and exercises are numbered per chapter ("Theorem 3.1"), as in the HTML,
  rather than per section, which is what the single LaTeX document would otherwise give.
- Solutions leave their exercises and follow at the end of each chapter under "Solutions".
- A reference to an exercise of another chapter names its number ("Exercise 2.1"), as one in the
  same chapter does; sphinx-exercise labels exercises only for references from their own document.
"""
from __future__ import annotations

from docutils import nodes
from sphinx import addnodes

UNNUMBERED = ("chapters/ch00_preface",)
BOXES = ("exercise", "definition", "theorem", "proposition", "lemma", "corollary", "remark",
         "example", "assumption", "conjecture", "axiom", "criterion", "algorithm", "property",
         "observation")


def _latex(app) -> bool:
    return app.builder is not None and app.builder.name == "latex"


def chapter_numbers(app, env):
    """Renumber the boxes of each document (chapter, k) in their order, for the LaTeX build."""
    if not _latex(app):
        return []
    for numbers in env.toc_fignumbers.values():
        for kind, ids in numbers.items():
            if kind.split(":")[-1] not in BOXES and not kind.startswith("prf"):
                continue
            ordered = sorted(ids.items(), key=lambda item: item[1])
            for k, (node_id, number) in enumerate(ordered, start=1):
                ids[node_id] = (number[0], k) if number else number
    return []


def layout(app, doctree, docname):
    if not _latex(app) or docname != app.config.root_doc:
        return
    _exercise_references(app, doctree)
    for start in list(doctree.findall(addnodes.start_of_file)):
        if start["docname"] in UNNUMBERED:
            parent, index = start.parent, start.parent.index(start)
            parent.insert(index, nodes.raw("", r"\edef\mfbooksecnum{\the\value{secnumdepth}}"
                                               r"\setcounter{secnumdepth}{-2}", format="latex"))
            parent.insert(index + 2, nodes.raw("", r"\setcounter{secnumdepth}{\mfbooksecnum}",
                                               format="latex"))
            continue
        solutions = list(_solutions(start))
        chapter = next((c for c in start.children if isinstance(c, nodes.section)), None)
        if not solutions or chapter is None:
            continue
        section = nodes.section(ids=[f"solutions-{start['docname'].replace('/', '-')}"])
        section += nodes.title(text="Solutions")
        for parent, solution in solutions:
            parent.children.remove(solution)
            section += solution
        chapter += section


def _exercise_references(app, doctree):
    """Replace each numbered reference to an exercise by the link sphinx-exercise itself writes for
    one in the same document: its label ``exercise:<name>`` and its number as text."""
    labels = app.env.get_domain("std").labels
    for ref in list(doctree.findall(addnodes.number_reference)):
        name = ref.get("refuri", "").rpartition("#")[2] or ref.get("refid", "")
        docname, node_id, _ = labels.get(name, (None, None, None))
        number = app.env.toc_fignumbers.get(docname, {}).get("exercise", {}).get(node_id)
        if not number:
            continue
        text = ref.get("title", "Exercise %s").replace("%s", ".".join(map(str, number)))
        ref.replace_self(nodes.raw("", rf"\hyperref[exercise:{name}]{{{text}}}", format="latex"))


def _solutions(node):
    """(parent, solution) pairs of one document, top-down (parent links of the assembled LaTeX
    tree are not all set), not entering the documents it includes."""
    for child in node.children:
        if isinstance(child, addnodes.start_of_file):
            continue
        if type(child).__name__ == "solution_node":
            yield node, child
        elif isinstance(child, nodes.Element):
            yield from _solutions(child)


def setup(app):
    app.connect("env-get-updated", chapter_numbers, priority=900)  # after Sphinx numbers them
    app.connect("doctree-resolved", layout)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
