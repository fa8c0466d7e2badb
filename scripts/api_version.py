#!/usr/bin/env python3
"""One version for the API and its SDKs: fail when schemas/openapi.json changed under an old
info.version (stdlib only).

usage: api_version.py check [--base REV]   (CI)
       api_version.py record               (after bumping API_VERSION in api/src/lib.rs)

schemas/openapi.versions is the ledger: one line `<version> <sha256 of schemas/openapi.json>`
per released document, appended by `record`, never edited. `check` fails when
  * the document's hash is not the ledger's line for its info.version (the document changed
    and the version did not, or a new version was not recorded), or
  * a version appears twice, or the current one is not the newest line;
and, when git history is there, when the ledger is not an append-only extension of the base's
(`--base`, else the merge base with origin/main, else HEAD~1), or the base's document differs
under the same info.version. A shallow clone with one commit has no base: the ledger alone then
decides, which is why the fingerprints are checked in rather than taken from history.
"""
import hashlib
import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
DOC = "schemas/openapi.json"
LEDGER = "schemas/openapi.versions"
HOW = (
    "bump API_VERSION in api/src/lib.rs, regenerate the document "
    "(EATS_UPDATE_SCHEMAS=1 cargo test -p eats-api --test openapi) and the SDKs (sdk/generate.sh), "
    "then run scripts/api_version.py record"
)


def fingerprint(text: bytes) -> tuple[str, str]:
    return json.loads(text)["info"]["version"], hashlib.sha256(text).hexdigest()


def parse_ledger(text: str) -> list[tuple[str, str]]:
    rows = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            version, digest = line.split()
            rows.append((version, digest))
    return rows


def git(*args: str) -> str | None:
    out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True)
    return out.stdout.decode() if out.returncode == 0 else None


def find_base(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    for candidate in (["merge-base", "HEAD", "origin/main"], ["rev-parse", "--verify", "-q", "HEAD~1"]):
        out = git(*candidate)
        if out and out.strip() != (git("rev-parse", "HEAD") or "").strip():
            return out.strip()
    return None


def check(base: str | None) -> list[str]:
    doc = (REPO / DOC).read_bytes()
    version, digest = fingerprint(doc)
    ledger_path = REPO / LEDGER
    rows = parse_ledger(ledger_path.read_text()) if ledger_path.exists() else []
    errors = []
    versions = [v for v, _ in rows]
    for v in sorted({v for v in versions if versions.count(v) > 1}):
        errors.append(f"{LEDGER}: version {v} is recorded more than once")
    recorded = dict(rows)
    if version not in recorded:
        errors.append(f"{DOC} is at {version}, which {LEDGER} does not record: run scripts/api_version.py record")
    elif recorded[version] != digest:
        errors.append(f"{DOC} changed but info.version is still {version}: {HOW}")
    elif rows[-1][0] != version:
        errors.append(f"{DOC} is at {version} but the newest recorded version is {rows[-1][0]}")
    base = find_base(base)
    if base is None:
        print("api_version: no base commit in this checkout; the ledger alone was checked", file=sys.stderr)
        return errors
    base_ledger = git("show", f"{base}:{LEDGER}")
    if base_ledger is not None:
        old = parse_ledger(base_ledger)
        if rows[: len(old)] != old:
            errors.append(f"{LEDGER} rewrote lines of {base[:12]}'s ledger: only append to it")
    base_doc = subprocess.run(["git", "-C", str(REPO), "show", f"{base}:{DOC}"], capture_output=True)
    if base_doc.returncode == 0:
        old_version, old_digest = fingerprint(base_doc.stdout)
        if old_digest != digest and old_version == version:
            errors.append(f"{DOC} differs from {base[:12]}'s but both say {version}: {HOW}")
    print(f"api_version: compared with {base[:12]}", file=sys.stderr)
    return errors


def record() -> None:
    version, digest = fingerprint((REPO / DOC).read_bytes())
    path = REPO / LEDGER
    text = path.read_text() if path.exists() else (
        "# info.version and sha256 of schemas/openapi.json, one line per released document.\n"
        "# Appended by scripts/api_version.py record; never edit a line (CI checks).\n"
    )
    recorded = dict(parse_ledger(text))
    if recorded.get(version) == digest:
        print(f"api_version: {version} already recorded", file=sys.stderr)
        return
    if version in recorded:
        sys.exit(f"api_version: {version} is recorded for another document: {HOW}")
    path.write_text(text + f"{version} {digest}\n")
    print(f"api_version: recorded {version} {digest}", file=sys.stderr)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["record"] and len(args) == 1:
        record()
    elif args[:1] == ["check"]:
        base = args[args.index("--base") + 1] if "--base" in args else None
        errors = check(base)
        for e in errors:
            print(f"api_version: {e}", file=sys.stderr)
        if errors:
            sys.exit(1)
        print("api_version: the document's version is recorded and moved with it", file=sys.stderr)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
