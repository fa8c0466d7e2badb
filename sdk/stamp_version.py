#!/usr/bin/env python3
"""Stamps the OpenAPI document's info.version into the three SDK packages (stdlib only).

usage: stamp_version.py OPENAPI.json

The API and its SDKs share one version, whose source is `API_VERSION` in api/src/lib.rs; it
reaches schemas/openapi.json as info.version and from there, through this script (run by
generate.sh), python/pyproject.toml, typescript/package.json (+ its lockfile) and
rust/eats-client/Cargo.toml (+ rust/Cargo.lock). check.sh then finds a stale stamp like any
other stale generated file.
"""
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent


def sub_once(path: pathlib.Path, pattern: str, repl: str) -> None:
    text = path.read_text(encoding="utf-8")
    new, n = re.subn(pattern, repl, text, count=1, flags=re.M)
    if n != 1:
        sys.exit(f"stamp_version: {path}: no match for {pattern!r}")
    path.write_text(new, encoding="utf-8")


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    version = json.loads(pathlib.Path(sys.argv[1]).read_text(encoding="utf-8"))["info"]["version"]
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        sys.exit(f"stamp_version: info.version {version!r} is not MAJOR.MINOR.PATCH")
    sub_once(HERE / "python/pyproject.toml", r'^version = "[^"]*"', f'version = "{version}"')
    sub_once(HERE / "rust/eats-client/Cargo.toml", r'^version = "[^"]*"', f'version = "{version}"')
    sub_once(HERE / "rust/Cargo.lock", r'^(name = "eats-client"\nversion = )"[^"]*"', rf'\g<1>"{version}"')
    pkg = HERE / "typescript/package.json"
    data = json.loads(pkg.read_text(encoding="utf-8"))
    data["version"] = version
    pkg.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    lock = HERE / "typescript/package-lock.json"
    data = json.loads(lock.read_text(encoding="utf-8"))
    data["version"] = version
    data["packages"][""]["version"] = version
    lock.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"stamp_version: SDK packages at {version}", file=sys.stderr)


if __name__ == "__main__":
    main()
