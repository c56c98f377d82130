"""Where the book lives: the one `repository:` setting of `_config.yml`, and everything derived from it.

The setting names the GitHub repository, the branch the book is built from and the book's folder
in it. From it follow the launch buttons (Binder, Colab, JupyterHub), the repository and issue
buttons, the published site (GitHub Pages, served from the `gh-pages` branch, which also holds the
reader notebooks that Colab opens), the install cell at the top of every chapter, the README's
badges, `CITATION.cff`, the preface's citation and the PDF's title page.

    python tools/repository.py sync    # validate the setting, rewrite every derived file that is stale
    python tools/repository.py check   # validate the setting, fail if a derived file is stale

The module is also the Sphinx extension that puts the derived links into the HTML and LaTeX
builds (`_config.yml`, `sphinx.local_extensions`).
"""
from __future__ import annotations

import dataclasses
import json
import pathlib
import re
import sys
from urllib.parse import urlencode

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES_BRANCH = "gh-pages"  # the branch the deploy workflow publishes the site to
READER_DIR = "notebooks"  # the reader copies' folder in the published site
INSTALL_TAG = "install-mfutils"  # the tag of every chapter's install cell (with remove-cell)
NUMERIC_PINS = ("jax", "jaxlib")  # pinned by the install cell: they fix the random streams
_URL = re.compile(r"https://github\.com/(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)"
                  r"/(?P<name>[A-Za-z0-9._-]+)")


class SettingError(ValueError):
    """The `repository:` setting of `_config.yml` is missing or malformed."""


@dataclasses.dataclass(frozen=True)
class Repository:
    """The book's home, parsed from `_config.yml` (`repository.url`, `.branch`, `.path_to_book`)."""

    url: str  # https://github.com/<owner>/<name>
    branch: str
    path_to_book: str  # the book's folder inside the repository, "" for the root
    owner: str
    name: str

    def repo_path(self, source: str) -> str:
        """A book source (e.g. `chapters/ch01_scalings.ipynb`) as a path from the repository root."""
        return f"{self.path_to_book}/{source}" if self.path_to_book else source

    @property
    def site(self) -> str:
        """The published HTML book (GitHub Pages)."""
        return f"https://{self.owner.lower()}.github.io/{self.name}/"

    @property
    def issues(self) -> str:
        return f"{self.url}/issues"

    def binder(self, source: str) -> str:
        """mybinder.org launch of a notebook in JupyterLab."""
        return f"https://mybinder.org/v2/gh/{self.owner}/{self.name}/{self.branch}?urlpath=lab/tree/" \
               f"{self.repo_path(source)}"

    def colab(self, source: str) -> str:
        """Colab opens the published reader copy (plain Markdown, install cell first)."""
        stem = pathlib.PurePosixPath(source).stem
        return f"https://colab.research.google.com/github/{self.owner}/{self.name}/blob/" \
               f"{PAGES_BRANCH}/{READER_DIR}/{stem}.ipynb"

    def hub_path(self, source: str) -> str:
        """The nbgitpuller path a JupyterHub appends to its address for a notebook."""
        query = urlencode({"repo": self.url, "urlpath": f"lab/tree/{self.name}/{self.repo_path(source)}",
                           "branch": self.branch}, safe="/")
        return f"/hub/user-redirect/git-pull?{query}"

    def pip_spec(self, version: str) -> str:
        """mfutils at the book's version tag, for pip."""
        return f"mfutils @ git+{self.url}@v{version}"


def load(root: pathlib.Path = ROOT) -> Repository:
    """Read and validate the `repository:` setting; a SettingError names what is wrong."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    setting = config.get("repository")
    where = "in _config.yml"
    if not isinstance(setting, dict):
        raise SettingError(f"`repository:` {where} is missing: give its url, branch and path_to_book")
    url, branch, path = setting.get("url"), setting.get("branch"), setting.get("path_to_book", "")
    match = _URL.fullmatch(url) if isinstance(url, str) else None
    if match is None or url.endswith(".git"):
        raise SettingError(f"repository.url {where} must be a GitHub repository address "
                           f"https://github.com/<owner>/<name> (no .git, no trailing slash), got {url!r}")
    if not isinstance(branch, str) or not branch.strip() or any(c in branch for c in " ~^:?*[\\"):
        raise SettingError(f"repository.branch {where} must name the branch the book is built from "
                           f"(e.g. main), got {branch!r}")
    if path is None:
        path = ""
    if not isinstance(path, str) or path.startswith("/") or ".." in path.split("/"):
        raise SettingError(f"repository.path_to_book {where} must be a relative folder ('' for the "
                           f"root), got {path!r}")
    return Repository(url, branch, path.strip("/"), match["owner"], match["name"])


def version(root: pathlib.Path = ROOT) -> str:
    """mfutils.__version__, read without importing the package."""
    text = (root / "mfutils" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M)[1]


def pins(root: pathlib.Path = ROOT) -> list[str]:
    """The reader's exact pins of the packages that fix the numbers (requirements.txt)."""
    found = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (root / "requirements.txt").read_text(), re.M))
    return [f"{name}=={found[name]}" for name in NUMERIC_PINS]


# --------------------------------------------------------------------------- derived files

def install_cell_source(repo: Repository, root: pathlib.Path = ROOT) -> str:
    """The install cell: one package per line, so that no line is wider than the book's code."""
    packages = "".join(f"        {json.dumps(p)},\n" for p in [*pins(root), repo.pip_spec(version(root))])
    return (
        "# Outside the book's environment (Colab, a plain Jupyter) this installs mfutils\n"
        "# at the book's version, with the pinned JAX; where mfutils is importable it\n"
        "# does nothing.\n"
        "import importlib.util\n"
        "import subprocess\n"
        "import sys\n"
        "\n"
        "if importlib.util.find_spec(\"mfutils\") is None:\n"
        "    packages = [\n"
        f"{packages}"
        "    ]\n"
        "    subprocess.run([sys.executable, \"-m\", \"pip\", \"install\", \"--quiet\", *packages],\n"
        "                   check=True)\n"
        "    importlib.invalidate_caches()"
    )


def with_install_cell(notebook: dict, source: str) -> dict:
    """The notebook with its install cell (tagged, hidden in the HTML) first among its code cells."""
    cells = notebook["cells"]
    for cell in cells:
        if INSTALL_TAG in cell.get("metadata", {}).get("tags", []):
            cell["source"] = source.splitlines(keepends=True)
            cell.setdefault("id", INSTALL_TAG)
            return notebook
    first_code = next(i for i, c in enumerate(cells) if c["cell_type"] == "code")
    cells.insert(first_code, {"cell_type": "code", "execution_count": None, "id": INSTALL_TAG,
                              "metadata": {"tags": ["remove-cell", INSTALL_TAG]}, "outputs": [],
                              "source": source.splitlines(keepends=True)})
    return notebook


def _between(text: str, marker: str, block: str) -> str:
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    if start not in text or end not in text:
        raise SettingError(f"the markers {start} … {end} are missing")
    head, rest = text.split(start, 1)
    return f"{head}{start}\n{block}\n{end}{rest.split(end, 1)[1]}"


def badges(repo: Repository) -> str:
    first = "chapters/ch01_scalings.ipynb"
    return (f"[![Read the book](https://img.shields.io/badge/read-the%20book-informational)]({repo.site})\n"
            f"[![PDF](https://img.shields.io/badge/download-PDF-informational)]({repo.site}book.pdf)\n"
            f"[![Launch Binder](https://mybinder.org/badge_logo.svg)]({repo.binder(first)})\n"
            f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({repo.colab(first)})")


def citation_cff(repo: Repository, root: pathlib.Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text())
    return (
        "# Generated by `python tools/repository.py sync` from _config.yml and mfutils.__version__.\n"
        "cff-version: 1.2.0\n"
        "message: If you use this book or mfutils, please cite it as below.\n"
        "type: software\n"
        f"title: {json.dumps(config['title'])}\n"
        "authors:\n"
        f"  - name: {json.dumps(config['author'])}\n"
        f"version: {json.dumps(version(root))}\n"
        f"repository-code: {json.dumps(repo.url)}\n"
        f"url: {json.dumps(repo.site)}\n"
        "license: [MIT, CC-BY-4.0]\n"
    )


def bibtex(repo: Repository, root: pathlib.Path = ROOT) -> str:
    config = yaml.safe_load((root / "_config.yml").read_text())
    return ("```bibtex\n"
            f"@book{{mfbook,\n"
            f"  title     = {{{config['title']}}},\n"
            f"  author    = {{{{{config['author']}}}}},\n"
            f"  year      = {{{config['copyright']}}},\n"
            f"  edition   = {{{version(root)}}},\n"
            f"  url       = {{{repo.site}}},\n"
            f"  note      = {{Executable lecture notes, source at {repo.url}}}\n"
            "}\n```")


def chapter_notebooks(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    return sorted((root / "chapters").glob("ch*.ipynb"))


def derived(root: pathlib.Path = ROOT) -> dict[pathlib.Path, str]:
    """Every file the setting determines, with the text it must have."""
    repo = load(root)
    files = {root / "CITATION.cff": citation_cff(repo, root)}
    readme, preface = root / "README.md", root / "chapters" / "ch00_preface.md"
    files[readme] = _between(readme.read_text(), "badges", badges(repo))
    files[preface] = _between(preface.read_text(), "citation", bibtex(repo, root))
    source = install_cell_source(repo, root)
    for path in chapter_notebooks(root):
        notebook = with_install_cell(json.loads(path.read_text()), source)
        files[path] = json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"
    return files


def stale(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    return [p for p, text in derived(root).items() if not p.exists() or p.read_text() != text]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[1] not in ("sync", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        files = derived()
    except SettingError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    behind = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    if argv[1] == "check":
        for p in behind:
            print(f"stale: {p.relative_to(ROOT)} (run `python tools/repository.py sync`)", file=sys.stderr)
        return 1 if behind else 0
    for p in behind:
        p.write_text(files[p])
        print(f"updated {p.relative_to(ROOT)}")
    return 0


# --------------------------------------------------------------------------- Sphinx extension

def _config_inited(app, config):
    """Validate the setting, show the version and the licences in every footer, put the version
    and the repository on the PDF's title page."""
    from sphinx.errors import ConfigError

    root = pathlib.Path(app.confdir)
    try:
        repo = load(root)
    except SettingError as err:
        raise ConfigError(str(err)) from None
    v = version(root)
    config.version = config.release = v
    theme = config.html_theme_options
    licence = f"{repo.url}/blob/{repo.branch}/LICENSE"
    theme["extra_footer"] = (
        f'<p class="mfbook-footer">Version {v}. Code under the <a href="{licence}">MIT License</a>; '
        'text and figures under <a href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>. '
        f'<a href="{repo.url}">Source on GitHub</a>.</p>')
    # the LaTeX title page's date line (HTML pages use no |today|)
    config.today = rf"Version {v}\\[1ex]\url{{{repo.site}}}\\\url{{{repo.url}}}"
    config.html_static_path = [*config.html_static_path, str(root / "_ext" / "static")]
    app.mfbook_repository = repo


def _launch_buttons(app, pagename, templatename, context, doctree):
    """Point the Colab button at the reader copy and add the JupyterHub button (nbgitpuller), which
    asks for the hub's address unless `launch_buttons.jupyterhub_url` names one."""
    repo = app.mfbook_repository
    source = pathlib.Path(app.env.doc2path(pagename)).relative_to(app.srcdir).as_posix()
    if not source.endswith(".ipynb"):
        return
    for group in context.get("header_buttons", []):
        if group.get("label") != "launch-buttons":
            continue
        buttons = group["buttons"]
        for button in buttons:
            if button.get("text") == "Colab":
                button["url"] = repo.colab(source)
                button["label"] = "launch-colab"
            elif button.get("text") == "Binder":
                button["label"] = "launch-binder"
            elif button.get("text") == "JupyterHub":
                button["label"] = "launch-jupyterhub"
        if not any(b.get("text") == "JupyterHub" for b in buttons):
            buttons.insert(1, {"type": "javascript", "text": "JupyterHub", "label": "launch-jupyterhub",
                               "tooltip": "Launch on your course's JupyterHub",
                               "icon": "_static/images/logo_jupyterhub.svg",
                               "javascript": f"mfbookLaunchOnHub('{repo.hub_path(source)}')"})


def setup(app):
    app.connect("config-inited", _config_inited)
    app.connect("html-page-context", _launch_buttons, priority=501)  # after the theme's buttons
    app.add_js_file("mfbook-launch.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
