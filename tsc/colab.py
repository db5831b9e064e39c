"""The chapters as Colab shows them: plain Markdown, generated from the book's sources.

Colab renders Markdown and LaTeX but not MyST: a chapter opened there would show raw
``{glue:text}`` roles, ``{cite}`` roles and ``{exercise}`` directives. `export` writes each
chapter with

* every ``{glue:text}`key:fmt``` replaced by the value the build computed (read from the
  executed notebook the book build left, formatted as the book formats it);
* citations as text with links (``Brown et al. (2024)``), from ``book/references.bib``;
* exercises, solutions and admonitions as headed sections and quotes;
* the install cell pointing at the repository and revision `_config.yml` names
  (`install_line`), so the buttons and the install cell cannot disagree.

``make colab`` runs it after ``make book``; publish the folder it writes as the branch the
launch buttons open (README, "Colab"), as QuantEcon publishes its lecture notebooks.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

FENCE = re.compile(r"^(`{3,}|:{3,})\{([\w-]+)\}\s*(.*)$")
OPTION = re.compile(r"^:([\w-]+):\s*(.*)$")
ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
INSTALL = re.compile(r'%pip install -q "git\+[^"]*"')
ADMONITIONS = {"note": "Note", "tip": "Tip", "important": "Important", "warning": "Warning", "seealso": "See also", "hint": "Hint"}


def install_line(config: dict) -> str:
    """The notebook's install command: the repository of `_config.yml` at its pinned
    revision (``repository.install_ref``, else the branch the book is built from)."""
    repository = config.get("repository") or {}
    url = repository.get("url", "").rstrip("/")
    ref = repository.get("install_ref") or repository.get("branch") or "main"
    return f'%pip install -q "git+{url}@{ref}"'


def read_config(root: str | Path = ".") -> dict:
    import yaml

    return yaml.safe_load((Path(root) / "_config.yml").read_text()) or {}


def glued(executed, sidecar: Path | None = None) -> dict[str, str]:
    """Name → text/plain of every value the executed notebook glued (`myst_nb.glue`): from
    its outputs, and from the ``NAME.glue.json`` the book build writes beside it (where the
    values glued with ``display=False`` go)."""
    import json

    found = []  # (name, text/plain), the outputs' after the sidecar's
    if sidecar is not None and sidecar.exists():
        found += [(name, (entry.get("data") or {}).get("text/plain")) for name, entry in json.loads(sidecar.read_text()).items()]
    for output in (output for cell in executed.cells for output in cell.get("outputs", [])):
        name, data = (output.get("metadata") or {}).get("scrapbook", {}).get("name"), output.get("data") or {}
        if name:
            found.append((name, data.get("text/plain", data.get("application/papermill.record/text/plain"))))
    return {name: text if isinstance(text, str) else "".join(text) for name, text in found if text is not None}


def references(bib: str | Path) -> dict[str, tuple[str, str | None]]:
    """Citation key → (authors as cited, e.g. "Brown et al.", year) and a link, from a .bib file."""
    from pybtex.database import parse_file

    out = {}
    for key, entry in parse_file(str(bib)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        last = [" ".join(p.last_names) for p in people] or [entry.fields.get("organization", entry.fields.get("title", key))]
        names = last[0] if len(last) == 1 else f"{last[0]} and {last[1]}" if len(last) == 2 else f"{last[0]} et al."
        names = names.replace("{", "").replace("}", "")
        fields = entry.fields
        link = fields.get("url") or (f"https://doi.org/{fields['doi']}" if "doi" in fields else None)
        if link is None and fields.get("eprint"):
            link = f"https://arxiv.org/abs/{fields['eprint']}"
        out[key] = (names, fields.get("year", "n.d."), link)
    return out


def _cite(keys: str, refs: dict, parenthetical: bool) -> str:
    parts = []
    for key in (k.strip() for k in keys.split(",")):
        names, year, link = refs.get(key, (key, "", None))
        text = f"{names}, {year}" if parenthetical else f"{names} ({year})"
        parts.append(f"[{text}]({link})" if link else text)
    return f"({'; '.join(parts)})" if parenthetical else ", ".join(parts)


def _number(label: str) -> str:
    """``ex-5-2`` → ``5.2``."""
    return ".".join(label.split("-")[1:]) or label


def roles(text: str, values: dict[str, str], refs: dict) -> str:
    """``text`` with its MyST roles replaced by what the book shows."""
    from myst_nb.core.variables import format_plain_text

    def replace(match: re.Match) -> str:
        role, content = match.group(1), match.group(2)
        if role in ("glue", "glue:text", "glue:any"):
            key, _, fmt = content.partition(":")
            if key not in values:
                return f"`{key}`"
            try:
                return format_plain_text(values[key], fmt)
            except Exception:
                return values[key]
        if role in ("cite", "cite:p", "cite:ps"):
            return _cite(content, refs, parenthetical=True)
        if role in ("cite:t", "cite:ts"):
            return _cite(content, refs, parenthetical=False)
        if role in ("ref", "numref", "doc", "term"):
            shown = re.match(r"(.*?)\s*<(.+)>$", content)
            if shown:
                return shown.group(1)
            return f"Exercise {_number(content)}" if content.startswith("ex-") else content
        return content

    return ROLE.sub(replace, text)


def directives(text: str) -> str:
    """``text`` with its MyST directives as plain Markdown (exercises and solutions as headed
    sections, admonitions as quotes); fenced code inside them is kept as it is."""
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        fence, name, argument = match.groups()
        j = i + 1
        options = {}
        while j < len(lines) and OPTION.match(lines[j]):
            key, value = OPTION.match(lines[j]).groups()
            options[key] = value
            j += 1
        end = next((k for k in range(j, len(lines)) if lines[k].strip() == fence), len(lines))
        body = directives("\n".join(lines[j:end]).strip("\n"))
        if name == "exercise":
            label = options.get("label", "")
            out.append(f"### Exercise {_number(label)}: {argument}".rstrip(": ") + "\n\n" + body)
        elif name == "solution":
            out.append(f"#### Solution to exercise {_number(argument.strip())}\n\n" + body)
        elif name == "admonition" or name in ADMONITIONS:
            title = argument if name == "admonition" else ADMONITIONS[name]
            quoted = "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
            out.append(f"> **{title}**\n>\n{quoted}")
        else:
            out.append(body)
        i = end + 1
    return "\n".join(out)


def colab_notebook(source, executed, refs: dict, install: str, sidecar: Path | None = None):
    """The Colab copy of chapter ``source`` (a notebook), given its ``executed`` build (and
    the build's glue file ``sidecar``)."""
    nb = copy.deepcopy(source)
    values = glued(executed, sidecar)
    for cell in nb.cells:
        text = cell.source if isinstance(cell.source, str) else "".join(cell.source)
        if cell.cell_type == "markdown":
            cell.source = roles(directives(text), values, refs)
        elif cell.cell_type == "code":
            cell.source = INSTALL.sub(install, text)
            cell.outputs, cell.execution_count = [], None
    nb.metadata["colab"] = {"provenance": [], "toc_visible": True}
    return nb


def export(chapters: list[str | Path], executed: str | Path, out: str | Path, *, root: str | Path = ".") -> list[Path]:
    """Write the Colab copy of each chapter into ``out`` (same names); ``executed`` is the
    folder of the chapters as the book build executed them. A ValueError names a chapter
    whose executed copy is missing (run ``make book`` first)."""
    import nbformat

    from tsc.io import write_atomic

    refs = references(Path(root) / "book" / "references.bib")
    install = install_line(read_config(root))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for chapter in map(Path, chapters):
        built = Path(executed) / chapter.name
        if not built.exists():
            raise ValueError(f"no executed copy of {chapter.name} in {executed}: build the book first (make book)")
        sidecar = built.with_name(chapter.stem + ".glue.json")
        nb = colab_notebook(nbformat.read(str(chapter), as_version=4), nbformat.read(str(built), as_version=4), refs, install, sidecar)
        target = out / chapter.name
        write_atomic(target, nbformat.writes(nb))
        written.append(target)
    return written
