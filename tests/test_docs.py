"""The documentation holds together: links resolve, every page is reachable from the README, the CLI
reference is the parsers' own help, and every command the docs show is one the suite runs (or is marked
``not run here``)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_link_resolves(page):
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    broken = []
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {dest.name}")
    assert not broken, f"{page.name}: {broken}"


def test_readme_is_short_and_links_every_docs_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    linked = set(re.findall(r"\]\(docs/([\w\-]+\.md)", readme))
    assert {p.name for p in (ROOT / "docs").glob("*.md")} <= linked
    for name in ("LICENSE", "CITATION.cff", "CHANGELOG.md"):
        assert (ROOT / name).is_file() and f"]({name})" in readme


def test_cli_reference_is_the_parsers_own_help():
    from transferbench.cli.reference import cli_reference

    page = (ROOT / "docs" / "cli.md").read_text()
    made_with = re.search(r"\(Python (\d+\.\d+)\)", page).group(1)
    if made_with != f"{sys.version_info.major}.{sys.version_info.minor}":
        pytest.skip(f"docs/cli.md was generated on Python {made_with} (argparse's layout differs)")
    assert page == cli_reference(), "run: python -m transferbench.cli.reference > docs/cli.md"


def _doc_commands() -> list[tuple[str, list[str]]]:
    """(page, words) of every `transferbench` command line in a bash block not marked `not run here`."""
    found = []
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
            for line in block.replace("\\\n", " ").splitlines():
                code, _, comment = line.partition("#")
                if "not run here" in comment or "transferbench " not in code or "transferbench &&" in code:
                    continue
                words = shlex.split(code.replace("[", " ").replace("]", " "))
                start = next(i for i, w in enumerate(words) if w.endswith("transferbench"))
                found.append((page.name, words[start + 1 :]))
    return found


TEST_TEXT = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("*.py") if p.name != "test_docs.py")


@pytest.mark.parametrize(
    "page, words", _doc_commands(), ids=lambda x: x if isinstance(x, str) else " ".join(x)[:60]
)
def test_every_documented_command_and_option_is_run_by_a_test(page, words):
    """The command's words (``data check``) and each of its options appear in a call the suite makes."""
    command = [w for w in words[:2] if not w.startswith("-")]
    if command and command[0] not in ("data", "export"):
        command = command[:1]
    call = ", ".join(f'"{w}"' for w in command)
    assert f"[{call}" in TEST_TEXT or f'"{command[0]}", *' in TEST_TEXT, f"{page}: no test runs {command}"
    for option in (w.split("=")[0] for w in words if w.startswith("--")):
        assert f'"{option}"' in TEST_TEXT, f"{page}: `transferbench {' '.join(command)} {option}` in no test"


def test_make_targets_in_the_docs_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w\-]+):", makefile, flags=re.M))
    for page in PAGES:
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), flags=re.S):
            for target in re.findall(r"^make (\w+)", block, flags=re.M):
                assert target in targets, f"{page.name}: make {target}"
