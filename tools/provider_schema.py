#!/usr/bin/env python3
"""Extracts the argument schema of a Terraform provider (hashicorp/aws, gitlabhq/gitlab) from the
jsii assembly of its prebuilt CDK for Terraform bindings (@cdktf/provider-aws,
@cdktf/provider-gitlab, whose READMEs name the provider version they were generated from) into a
small JSON file the tests read.

For every resource, data source and the provider itself: each argument by its Terraform name
(the anchor of its registry link), whether it is required, and, for a nested block, the block's
own arguments. Attributes that are only computed are not arguments and do not appear.

Usage: provider_schema.py PACKAGE_DIR OUT.json
"""
import json
import re
import sys

ANCHOR = re.compile(r"/docs(?:/(?:resources|data-sources)/[a-z0-9_]+)?#([a-z0-9_]+)")


def terraform_name(prop):
    docs = prop.get("docs", {})
    for text in (docs.get("remarks", ""), docs.get("summary", "")):
        match = ANCHOR.search(text)
        if match:
            return match.group(1)
    return None


def struct_of(type_ref):
    """The fqn of the struct a block holds, or None for a plain attribute."""
    if "fqn" in type_ref:
        return None if type_ref["fqn"].startswith("cdktf.") else type_ref["fqn"]
    if "collection" in type_ref:
        return struct_of(type_ref["collection"]["elementtype"])
    if "union" in type_ref:
        for t in type_ref["union"]["types"]:
            found = struct_of(t)
            if found:
                return found
    return None


def arguments(types, fqn, seen):
    out = {}
    for prop in types[fqn].get("properties", []):
        name = terraform_name(prop)
        if name is None:
            continue
        entry = {"required": not prop.get("optional", False)}
        struct = struct_of(prop["type"])
        if struct and struct not in seen:
            entry["block"] = arguments(types, struct, seen | {struct})
        out[name] = entry
    return out


def main():
    package, out_path = sys.argv[1], sys.argv[2]
    with open(f"{package}/.jsii", encoding="utf-8") as f:
        types = json.load(f)["types"]
    with open(f"{package}/README.md", encoding="utf-8") as f:
        source, version = re.search(r"([a-z]+/[a-z]+) provider version ([0-9.]+)", f.read()).groups()
    schema = {"provider": {}, "provider_source": source, "provider_version": version, "resource": {}, "data": {}}
    # Each resource, data source and the provider is a class whose docs link its registry page,
    # with its arguments in the interface of the same name and `Config`.
    represents = re.compile(r"/docs(?:/(resources|data-sources)/[a-z0-9_]+)? ([a-z][a-z0-9_]*)\}")
    for fqn, t in types.items():
        config = fqn + "Config"
        match = represents.search(t.get("docs", {}).get("summary", ""))
        if t.get("kind") != "class" or config not in types or match is None:
            continue
        kind = {"resources": "resource", "data-sources": "data", None: "provider"}[match.group(1)]
        args = arguments(types, config, {config})
        if kind == "provider":
            schema["provider"] = args
        else:
            schema[kind][match.group(2)] = args
    with open(out_path, "w", encoding="utf-8") as f:
        json.dump(schema, f, sort_keys=True)


if __name__ == "__main__":
    main()
