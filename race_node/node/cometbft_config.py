"""Edits to CometBFT's ``config.toml`` that keep its comments and layout.

CometBFT writes a long, commented template; our edits are a few ``key = value`` lines in
known sections, so a section-aware line rewrite is enough and keeps the file readable.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

_SECTION_RE = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_KEY_RE = re.compile(r"^(\s*)([A-Za-z0-9_\-]+)(\s*=\s*)(.*)$")


def toml_value(value: Any) -> str:
    """A Python value as a TOML literal (the few types CometBFT's config uses)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"unsupported config value {value!r}")


def set_config_values(path: Path, values: dict[str, dict[str, Any]]) -> None:
    """Set ``values[section][key]`` in ``path``; section "" is the top level.

    Every key must already exist in the file (CometBFT's template lists them all); a
    missing one is a typo and raises KeyError rather than being silently appended.
    """
    lines = path.read_text().splitlines(keepends=True)
    pending = {(section, key) for section, keys in values.items() for key in keys}
    section = ""
    for index, line in enumerate(lines):
        header = _SECTION_RE.match(line)
        if header:
            section = header.group(1).strip()
            continue
        match = _KEY_RE.match(line)
        if not match or (section, match.group(2)) not in pending:
            continue
        key = match.group(2)
        newline = "\n" if line.endswith("\n") else ""
        lines[index] = (f"{match.group(1)}{key}{match.group(3)}"
                        f"{toml_value(values[section][key])}{newline}")
        pending.discard((section, key))
    if pending:
        missing = ", ".join(f"[{s or 'top'}] {k}" for s, k in sorted(pending))
        raise KeyError(f"{path}: no such CometBFT settings: {missing}")
    path.write_text("".join(lines))


def read_config(path: Path) -> dict[str, Any]:
    """The parsed ``config.toml``."""
    with path.open("rb") as handle:
        return tomllib.load(handle)
