"""The one `repository:` setting and what derives from it; the licence and citation files; the
deploy workflow (linted by actionlint)."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

import actionlint
import repository

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _root_with(tmp_path: pathlib.Path, setting) -> pathlib.Path:
    """A copy of the files the setting derives into, with `repository:` replaced."""
    for name in ["_config.yml", "README.md", "requirements.txt", "mfutils/__init__.py",
                 "chapters/ch00_preface.md", *[f"chapters/{p.name}" for p in repository.chapter_notebooks()]]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    if setting is None:
        config.pop("repository")
    else:
        config["repository"] = setting
    (tmp_path / "_config.yml").write_text(yaml.safe_dump(config))
    return tmp_path


@pytest.mark.parametrize("setting, names", [
    (None, "`repository:`"),
    ({"url": "github.com/a/b", "branch": "main"}, "repository.url"),
    ({"url": "https://github.com/a/b.git", "branch": "main"}, "repository.url"),
    ({"url": "https://gitlab.com/a/b", "branch": "main"}, "repository.url"),
    ({"url": "https://github.com/a/b"}, "repository.branch"),
    ({"url": "https://github.com/a/b", "branch": " "}, "repository.branch"),
    ({"url": "https://github.com/a/b", "branch": "main", "path_to_book": "/abs"}, "repository.path_to_book"),
])
def test_a_wrong_setting_stops_with_a_message_naming_it(tmp_path, setting, names):
    root = _root_with(tmp_path, setting)
    with pytest.raises(repository.SettingError, match=names.replace(".", r"\.").replace("`", "`")):
        repository.load(root)
    # `make book` runs `repository.py sync` first: same message, non-zero exit, nothing written
    script = tmp_path / "tools" / "repository.py"
    script.parent.mkdir()
    shutil.copy(ROOT / "tools" / "repository.py", script)
    proc = subprocess.run([sys.executable, str(script), "sync"], capture_output=True, text=True)
    assert proc.returncode == 1 and names in proc.stderr and "_config.yml" in proc.stderr
    assert (tmp_path / "README.md").read_text() == (ROOT / "README.md").read_text()


def test_the_derived_files_agree_with_the_setting():
    """README badges, CITATION.cff, the preface's citation and the install cells are up to date."""
    assert repository.stale() == [], "run `python tools/repository.py sync`"
    repo, version = repository.load(), repository.version()
    readme = (ROOT / "README.md").read_text()
    first = "chapters/ch01_scalings.ipynb"
    assert repo.binder(first) in readme and repo.colab(first) in readme
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["version"] == version and cff["repository-code"] == repo.url and cff["url"] == repo.site
    preface = (ROOT / "chapters" / "ch00_preface.md").read_text()
    assert f"edition   = {{{version}}}" in preface and repo.site in preface


def test_a_changed_setting_moves_every_derived_file(tmp_path):
    setting = {"url": "https://github.com/someone/fork-of-book", "branch": "teaching",
               "path_to_book": ""}
    root = _root_with(tmp_path, setting)
    assert len(repository.stale(root)) == 3 + len(repository.chapter_notebooks())
    for path, text in repository.derived(root).items():
        path.write_text(text)
    assert repository.stale(root) == []
    readme = (root / "README.md").read_text()
    assert ("mybinder.org/v2/gh/someone/fork-of-book/teaching?urlpath=lab/tree/chapters/"
            "ch01_scalings.ipynb") in readme
    assert "colab.research.google.com/github/someone/fork-of-book/blob/gh-pages/notebooks/" in readme
    assert "https://someone.github.io/fork-of-book/" in (root / "CITATION.cff").read_text()
    for path in repository.chapter_notebooks(root):
        first = next(c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")
        assert "git+https://github.com/someone/fork-of-book@v" in "".join(first["source"])
    assert "mfbook/mean-field" not in readme


def test_every_chapter_starts_with_a_hidden_install_cell_that_does_nothing_here():
    repo, version = repository.load(), repository.version()
    for path in repository.chapter_notebooks():
        cells = json.loads(path.read_text())["cells"]
        first = next(c for c in cells if c["cell_type"] == "code")
        assert {"remove-cell", repository.INSTALL_TAG} <= set(first["metadata"]["tags"]), path.name
        source = "".join(first["source"])
        assert repo.pip_spec(version) in source and all(p in source for p in repository.pins())
        assert first["outputs"] == []
        namespace: dict = {}
        exec(compile(source, path.name, "exec"), namespace)  # mfutils is importable: installs nothing


def test_site_urls_follow_the_formats_of_binder_colab_and_nbgitpuller():
    repo = repository.Repository("https://github.com/o/n", "dev", "book", "o", "n")
    source = "chapters/ch03_chaos.ipynb"
    assert repo.binder(source) == "https://mybinder.org/v2/gh/o/n/dev?urlpath=lab/tree/book/chapters/ch03_chaos.ipynb"
    assert repo.colab(source) == "https://colab.research.google.com/github/o/n/blob/gh-pages/notebooks/ch03_chaos.ipynb"
    assert repo.hub_path(source) == ("/hub/user-redirect/git-pull?repo=https%3A//github.com/o/n"
                                     "&urlpath=lab/tree/n/book/chapters/ch03_chaos.ipynb&branch=dev")
    assert repo.site == "https://o.github.io/n/"


def test_licence_citation_and_changelog_exist_and_name_the_version():
    version = repository.version()
    licence = (ROOT / "LICENSE").read_text()
    assert "MIT License" in licence and "CC BY 4.0" in licence
    assert f"## {version}" in (ROOT / "CHANGELOG.md").read_text()
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["cff-version"] == "1.2.0"


def test_the_deploy_workflow_passes_actionlint_and_runs_the_make_targets():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert workflows
    assert actionlint.lint(workflows) == []
    runs = " ".join(step.get("run", "") for w in workflows
                    for job in yaml.safe_load(w.read_text())["jobs"].values() for step in job["steps"])
    for target in ("make test", "make notebooks", "make pdf"):
        assert target in runs


def test_actionlint_finds_a_broken_workflow(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_property }}\n")
    found = actionlint.lint([bad])
    assert found and "no_such_property" in found[0]["message"]
