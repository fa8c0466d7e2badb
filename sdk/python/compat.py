#!/usr/bin/env python3
"""Post-processes the generated eats_client package so it runs on Python >= 3.9 (stdlib only).

usage: compat.py PACKAGE_DIR

openapi-python-client 0.29 writes Python 3.11 code: `X | None` in annotations and in type
aliases evaluated at import, and `typing.Self`. pyproject.toml promises Python 3.9, and CI
runs the lifecycle test on the oldest interpreter it finds, so this rewrites exactly those:
  * `from __future__ import annotations` in every module (annotations stay unevaluated);
  * `typing.Self` taken from typing_extensions and `enum.StrEnum` defined before 3.11;
  * the runtime unions of types.py spelled with typing.Union / Optional, and those passed
    to `typing.cast` quoted;
and adds the `py.typed` marker (PEP 561). It fails when a rewrite no longer matches, so a
generator upgrade cannot silently undo it.
"""
import pathlib
import re
import sys

FUTURE = "from __future__ import annotations\n"
SELF_OLD = "from typing import Any, Self\n"
SELF_NEW = (
    "import sys\nfrom typing import Any\n\n"
    "if sys.version_info >= (3, 11):\n    from typing import Self\n"
    "else:  # pragma: no cover\n    from typing_extensions import Self\n"
)
STRENUM_OLD = "from enum import StrEnum\n"
STRENUM_NEW = (
    "import sys\n\n"
    "if sys.version_info >= (3, 11):\n    from enum import StrEnum\n"
    "else:  # pragma: no cover\n    from enum import Enum\n\n"
    "    class StrEnum(str, Enum):\n        pass\n"
)
TYPES_ALIASES = [
    ("FileContent = IO[bytes] | bytes | str", "FileContent = Union[IO[bytes], bytes, str]"),
    (
        "    tuple[str | None, FileContent, str | None]\n",
        "    Union[tuple[Optional[str], FileContent, Optional[str]],\n",
    ),
    (
        "    | tuple[str | None, FileContent, str | None, Mapping[str, str]]\n",
        "    tuple[Optional[str], FileContent, Optional[str], Mapping[str, str]]]\n",
    ),
    (
        "from typing import BinaryIO, Generic, TypeVar, Literal, IO\n",
        "from typing import BinaryIO, Generic, TypeVar, Literal, IO, Optional, Union\n",
    ),
]


def add_future(text: str) -> str:
    if FUTURE in text:
        return text
    # After a leading module docstring, if any.
    m = re.match(r'\s*(""".*?"""\n)', text, re.S)
    if m:
        return text[: m.end()] + FUTURE + text[m.end() :]
    return FUTURE + text


def quote_cast_unions(text: str) -> str:
    """`cast(A | B, x)` evaluates the union at run time: pass it as a string instead."""
    out, i = [], 0
    while True:
        j = text.find("cast(", i)
        if j < 0:
            out.append(text[i:])
            return "".join(out)
        start = j + len("cast(")
        depth, k = 0, start
        while depth or text[k] != ",":
            depth += {"[": 1, "(": 1, "]": -1, ")": -1}.get(text[k], 0)
            k += 1
        arg = text[start:k]
        if "|" in arg and not arg.lstrip().startswith(("'", '"')):
            arg = '"' + arg.strip() + '"'
        out.append(text[i:start] + arg)
        i = k


def replace(text: str, old: str, new: str, where: pathlib.Path) -> str:
    if old not in text:
        sys.exit(f"compat.py: {where}: expected {old!r}; the generator changed, adapt compat.py")
    return text.replace(old, new)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    pkg = pathlib.Path(sys.argv[1])
    for path in sorted(pkg.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path.name == "client.py" and path.parent == pkg:
            text = replace(text, SELF_OLD, SELF_NEW, path)
        if path.name == "types.py" and path.parent == pkg:
            for old, new in TYPES_ALIASES:
                text = replace(text, old, new, path)
        if STRENUM_OLD in text:
            text = text.replace(STRENUM_OLD, STRENUM_NEW)
        text = quote_cast_unions(text)
        path.write_text(add_future(text), encoding="utf-8")
    (pkg / "py.typed").write_text("", encoding="utf-8")


if __name__ == "__main__":
    main()
