#!/usr/bin/env python3
"""Normalise schemas/openapi.json for the SDK generators (stdlib only).

usage: prepare_spec.py IN.json OUT.json [--progenitor]

Always:
  * merges duplicated keys in `paths` (the served document repeats "/stores":
    one entry with `get` (listStores) and one with `post` (registerStore); strict
    parsers such as openapi-typescript's reject the document, lenient ones such as
    Python's json silently drop listStores).
  * collapses poem-openapi's `{"allOf": [{"$ref": X}, {"description": ...}]}` (a $ref
    carrying its own description) into `{"$ref": X, "description": ...}`;
    openapi-python-client rejects the allOf form ("Cannot take allOf a non-object"
    for string enums such as PaymentStatus) and drops the whole schema.
  * marks optional (not `required`) inline properties of component schemas
    `nullable: true`: the server serialises absent optionals as JSON `null`
    (e.g. OrderView.accepted_at before acceptance) although the document does not
    allow null, and the generated Python models crash on it
    (`datetime.fromisoformat(None)`); progenitor's serde would also reject it.
With --progenitor additionally:
  * rewrites `application/problem+json` responses to `application/json` so that
    progenitor types the errors as `Error<types::Problem>` instead of a raw byte
    stream (progenitor only types `application/json` responses).
"""
import json
import sys


def merge_pairs(pairs):
    out = {}
    for key, value in pairs:
        if key in out and isinstance(out[key], dict) and isinstance(value, dict):
            clash = set(out[key]) & set(value)
            if clash:
                sys.exit(f"prepare_spec: duplicated key {key!r} with clashing members {sorted(clash)}")
            print(f"prepare_spec: merged duplicated key {key!r}", file=sys.stderr)
            out[key].update(value)
        else:
            out[key] = value
    return out


def collapse_described_refs(node):
    if isinstance(node, dict):
        all_of = node.get("allOf")
        if (
            isinstance(all_of, list)
            and len(all_of) == 2
            and set(all_of[0]) == {"$ref"}
            and set(all_of[1]) <= {"description", "title"}
        ):
            rest = {k: v for k, v in node.items() if k != "allOf"}
            node.clear()
            node["$ref"] = all_of[0]["$ref"]
            node.update(rest)
        for value in node.values():
            collapse_described_refs(value)
    elif isinstance(node, list):
        for value in node:
            collapse_described_refs(value)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    progenitor = "--progenitor" in sys.argv
    if len(args) != 2:
        sys.exit(__doc__)
    with open(args[0], encoding="utf-8") as f:
        spec = json.load(f, object_pairs_hook=merge_pairs)
    collapse_described_refs(spec)
    for schema in spec.get("components", {}).get("schemas", {}).values():
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            if name not in required and "$ref" not in prop:
                prop["nullable"] = True
    if progenitor:
        for item in spec.get("paths", {}).values():
            for op in item.values():
                if not isinstance(op, dict):
                    continue
                for resp in op.get("responses", {}).values():
                    content = resp.get("content", {})
                    if "application/problem+json" in content:
                        content["application/json"] = content.pop("application/problem+json")
    with open(args[1], "w", encoding="utf-8") as f:
        json.dump(spec, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
