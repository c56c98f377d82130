"""Drop exact-duplicate <script> entries from every HTML page.

sphinx-thebe 0.3.1 registers its inline config (`const THEBE_JS_URL = ...`) on each
env-before-read-docs event, and Jupyter Book's build fires that event twice, so every page
declared the constant twice: a JavaScript SyntaxError in the reader's console. Keeping the first
of identical entries removes it without touching either package.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # inline snippets are registered with filename None or '': compare them as equal
        key = (script.filename or "", script.priority, tuple(sorted(script.attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


def setup(app):
    app.connect("html-page-context", _dedupe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
