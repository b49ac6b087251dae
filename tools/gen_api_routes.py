#!/usr/bin/env python3
"""gen_api_routes.py: writes producers/api/routes_gen.c, the AWS Batch REST routing table of
`barge api`, from botocore's service model (batch/2016-08-10/service-2.json[.gz]), and the
model's request shapes (every structure reachable from an operation's input, with its members
and their types), against which tests/unit/test_api_model.c checks Barge's own request model
(producers/aws/aws_ops.c): a member the model has is in Barge's model, honoured, refused as
unhonoured or out of scope, so that "unknown member" means "not in AWS's model".

    tools/gen_api_routes.py > producers/api/routes_gen.c          # regenerate after a botocore bump
    tools/gen_api_routes.py --check producers/api/routes_gen.c    # exit 1 when the file is stale

The table is checked in so the C build needs no Python; the check runs in the test suite
(tests/e2e/test_api_bad_input.py). The generator fails loudly on any model feature the table
cannot express (a second path label, a greedy label, header-bound members, a querystring
member that is not a list of strings), so a model change cannot be half-served."""
import gzip
import json
import os
import sys

import botocore


def load_model():
    base = os.path.join(os.path.dirname(botocore.__file__), "data", "batch", "2016-08-10", "service-2.json")
    if os.path.exists(base):
        with open(base) as f:
            return json.load(f)
    with gzip.open(base + ".gz", "rt") as f:
        return json.load(f)


def cstr(s):
    return "NULL" if s is None else '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


TYPE_WORDS = {"string": "string", "integer": "integer", "long": "long", "float": "float", "double": "float",
              "boolean": "boolean", "structure": "structure", "list": "list", "map": "map"}


def request_shapes(model):
    """Rows {name, type word, "member:type,member:type"} of the shapes reachable from the
    operations' inputs, and one row per operation ("op:SubmitJob") for its input members."""
    shapes = model["shapes"]
    seen, rows = set(), []

    def type_of(name):
        t = shapes[name]["type"]
        if t not in TYPE_WORDS:
            sys.exit(f"gen_api_routes: shape {name} has type {t}, which Barge's model does not know")
        return TYPE_WORDS[t]

    def members_text(sh):
        return ",".join(f"{m}:{type_of(mv['shape'])}" for m, mv in sh["members"].items())

    def walk(name):
        if name in seen:
            return
        seen.add(name)
        sh = shapes[name]
        if sh["type"] == "structure":
            for mv in sh["members"].values():
                walk(mv["shape"])
            rows.append((name, "structure", members_text(sh)))
        elif sh["type"] == "list":
            walk(sh["member"]["shape"])
        elif sh["type"] == "map":
            walk(sh["value"]["shape"])

    for name in sorted(model["operations"]):
        inp = model["operations"][name].get("input", {}).get("shape")
        if not inp:
            continue
        for mv in shapes[inp]["members"].values():
            walk(mv["shape"])
        rows.append(("op:" + name, "structure", members_text(shapes[inp])))
    return sorted(rows)


def generate():
    model = load_model()
    shapes = model["shapes"]
    meta = model["metadata"]
    if meta.get("protocol") != "rest-json":
        sys.exit(f"gen_api_routes: protocol {meta.get('protocol')} is not rest-json")
    rows = []
    for name in sorted(model["operations"]):
        op = model["operations"][name]
        method, path = op["http"]["method"], op["http"]["requestUri"]
        uri_member = query_member = query_name = None
        inp = op.get("input", {}).get("shape")
        for m, mv in (shapes[inp]["members"].items() if inp else []):
            loc = mv.get("location")
            if loc is None:
                continue
            if loc == "uri":
                label = "{" + mv.get("locationName", m) + "}"
                if uri_member or not path.endswith("/" + label) or path.count("{") != 1:
                    sys.exit(f"gen_api_routes: {name}: path {path} is not '/prefix/{{label}}'")
                uri_member = m
            elif loc == "querystring":
                sh = shapes[mv["shape"]]
                if query_member or sh["type"] != "list" or shapes[sh["member"]["shape"]]["type"] != "string":
                    sys.exit(f"gen_api_routes: {name}: querystring member {m} is not a single list of strings")
                query_member, query_name = m, mv.get("locationName", m)
            else:
                sys.exit(f"gen_api_routes: {name}: member {m} in location {loc} is not supported")
        if "{" in path and not uri_member:
            sys.exit(f"gen_api_routes: {name}: path {path} has a label but no uri member")
        read_only = 1 if name.startswith(("Describe", "List", "Get")) else 0
        rows.append(f"    {{{cstr(name)}, {cstr(method)}, {cstr(path)}, {read_only}, {cstr(uri_member)}, "
                    f"{cstr(query_member)}, {cstr(query_name)}}},")
    model_name = f"botocore {botocore.__version__}, batch {meta['apiVersion']}"
    return "\n".join([
        "/* routes_gen.c: GENERATED by tools/gen_api_routes.py from " + model_name + ".",
        " * Do not edit; regenerate with `tools/gen_api_routes.py > producers/api/routes_gen.c`. */",
        '#include "routes.h"',
        "",
        "const struct api_route api_routes[] = {",
        *rows,
        "};",
        "const size_t api_routes_count = sizeof api_routes / sizeof *api_routes;",
        f"const char api_routes_model[] = {cstr(model_name)};",
        "",
        "const struct api_model_shape api_model_shapes[] = {",
        *[f"    {{{cstr(n)}, {cstr(t)}, {cstr(m)}}}," for n, t, m in request_shapes(model)],
        "};",
        "const size_t api_model_shapes_count = sizeof api_model_shapes / sizeof *api_model_shapes;",
        "",
    ])


def main():
    text = generate()
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        with open(sys.argv[2]) as f:
            if f.read() != text:
                print(f"{sys.argv[2]} is stale against the installed botocore {botocore.__version__}: "
                      "run tools/gen_api_routes.py > producers/api/routes_gen.c", file=sys.stderr)
                sys.exit(1)
        print(f"{sys.argv[2]} matches botocore {botocore.__version__}")
        return
    if len(sys.argv) != 1:
        sys.exit(__doc__)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
