#!/usr/bin/env python3
"""codec_interop.py: checks Barge's C codec against fastavro, an independent Avro implementation.

Run by test_codec (its interop part) on a folder the C side wrote, per event type:
  <Type>.schema.json  the embedded schema text   <Type>.canonical  the C Parsing Canonical Form
  <Type>.<k>.bin      a single-object frame       <Type>.<k>.json   the value in Barge's JSON
For each type: fastavro's canonical form and CRC-64-AVRO fingerprint equal the C ones; every frame
starts C3 01 + that fingerprint; fastavro decodes the body to exactly the C value (after mapping
Barge's JSON convention to fastavro's: union wrappers dropped, named types in unions as
(full name, value), bytes from base64); fastavro re-encodes that value to the same bytes.
Exit status 0 when everything matched."""
import base64
import copy
import glob
import io
import json
import os
import sys

import fastavro
from fastavro.schema import fingerprint, to_parsing_canonical_form

PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def strip_logical(s):
    """The schema without logicalType, so fastavro returns timestamps as the plain longs C gives."""
    if isinstance(s, list):
        return [strip_logical(b) for b in s]
    if isinstance(s, dict):
        return {k: strip_logical(v) for k, v in s.items() if k != "logicalType"}
    return s


class Expect:
    """Maps a value in Barge's JSON convention to what fastavro's reader returns."""

    def __init__(self):
        self.names = {}

    def full(self, name, ns):
        return name if "." in name or not ns else ns + "." + name

    def resolve(self, s, ns):
        while True:
            if isinstance(s, str):
                if s in PRIMITIVES:
                    return s, ns
                full = self.full(s, ns)
                if full not in self.names and s in self.names:
                    full = s
                s = self.names[full]
                ns = full.rpartition(".")[0]
                continue
            if isinstance(s, dict):
                t = s["type"]
                if t in ("record", "enum", "fixed"):
                    full = self.full(s["name"], s.get("namespace", ns))
                    self.names.setdefault(full, s)
                    return s, full.rpartition(".")[0]
                if not isinstance(t, str) or t not in PRIMITIVES | {"array", "map"}:
                    s = t
                    continue
                if t in PRIMITIVES:
                    return t, ns
            return s, ns

    def kind(self, s):
        if isinstance(s, str):
            return s
        if isinstance(s, list):
            return "union"
        return s["type"]

    def branch_key(self, s):
        k = self.kind(s)
        return s["name"].rpartition(".")[2] if k in ("record", "enum", "fixed") else k

    def fullname(self, s, ns):
        return self.full(s["name"], s.get("namespace", ns))

    def convert(self, s, ns, v, path):
        s, ns = self.resolve(s, ns)
        k = self.kind(s)
        if k in ("bytes", "fixed"):
            return base64.b64decode(v, validate=True)
        if k in PRIMITIVES or k == "enum":
            return v
        if k == "array":
            return [self.convert(s["items"], ns, x, f"{path}[{i}]") for i, x in enumerate(v)]
        if k == "map":
            return {key: self.convert(s["values"], ns, x, f"{path}.{key}") for key, x in v.items()}
        if k == "record":
            inner = self.fullname(s, ns).rpartition(".")[0]
            missing = {f["name"] for f in s["fields"]} ^ set(v)
            if missing:
                raise ValueError(f"{path}: fields differ from the schema: {sorted(missing)}")
            return {f["name"]: self.convert(f["type"], inner, v[f["name"]], f"{path}.{f['name']}")
                    for f in s["fields"]}
        if k == "union":
            branches = [self.resolve(b, ns) for b in s]
            if v is None:
                if not any(self.kind(b) == "null" for b, _ in branches):
                    raise ValueError(f"{path}: null for a union without null")
                return None
            non_null = [(b, bns) for b, bns in branches if self.kind(b) != "null"]
            if len(s) == 2 and len(non_null) == 1:
                b, bns = non_null[0]
                val = v
            else:
                if not isinstance(v, dict) or len(v) != 1:
                    raise ValueError(f"{path}: union value is not {{branch: value}}: {v!r}")
                (key, val), = v.items()
                matches = [(b, bns) for b, bns in branches if self.branch_key(b) == key]
                if not matches:
                    raise ValueError(f"{path}: no union branch {key}")
                b, bns = matches[0]
            out = self.convert(b, bns, val, path)
            if self.kind(b) in ("record", "enum", "fixed"):  # fastavro's return_record_name
                return (self.fullname(b, bns), out)
            return out
        raise ValueError(f"{path}: unexpected schema {s!r}")


def main(folder):
    schemas = sorted(glob.glob(os.path.join(folder, "*.schema.json")))
    if not schemas:
        print(f"codec_interop: no *.schema.json in {folder}")
        return 1
    failures = 0
    frames_total = 0
    for path in schemas:
        name = os.path.basename(path)[: -len(".schema.json")]
        errors = []
        with open(path) as f:
            schema = json.load(f)
        with open(os.path.join(folder, name + ".canonical")) as f:
            c_canonical = f.read()
        parsed = fastavro.parse_schema(copy.deepcopy(schema))
        canonical = to_parsing_canonical_form(parsed)
        if canonical != c_canonical:
            errors.append(f"canonical form differs:\n  fastavro {canonical}\n"
                          f"  C        {c_canonical}")
        fp_hex = fingerprint(canonical, "CRC-64-AVRO")  # the 8 bytes, little-endian, as hex
        plain = fastavro.parse_schema(strip_logical(copy.deepcopy(schema)))
        frames = sorted(glob.glob(os.path.join(folder, name + ".*.bin")),
                        key=lambda p: int(p.rsplit(".", 2)[1]))
        if not frames:
            errors.append("no sample frames")
        for fpath in frames:
            tag = os.path.basename(fpath)
            with open(fpath, "rb") as f:
                data = f.read()
            with open(fpath[:-4] + ".json") as f:
                c_value = json.load(f)
            if data[:2] != b"\xc3\x01":
                errors.append(f"{tag}: magic {data[:2].hex()} is not c301")
                continue
            if data[2:10].hex() != fp_hex:
                errors.append(f"{tag}: fingerprint {data[2:10].hex()} != fastavro's {fp_hex}")
            body = data[10:]
            try:
                expected = Expect().convert(schema, "", c_value, "")
                bio = io.BytesIO(body)
                got = fastavro.schemaless_reader(bio, plain, None, return_record_name=True)
                if bio.tell() != len(body):
                    errors.append(f"{tag}: fastavro read {bio.tell()} of {len(body)} body bytes")
                if got != expected:
                    errors.append(f"{tag}: fastavro decodes\n  {got!r}\n"
                                  f"C value maps to\n  {expected!r}")
                out = io.BytesIO()
                fastavro.schemaless_writer(out, plain, expected)
                if out.getvalue() != body:
                    errors.append(f"{tag}: fastavro encodes {out.getvalue().hex()}\n"
                                  f"  C encoded {body.hex()}")
            except Exception as e:  # a reader or mapping failure is a mismatch too
                errors.append(f"{tag}: {type(e).__name__}: {e}")
        frames_total += len(frames)
        if errors:
            failures += 1
            print(f"   FAIL {name}:")
            for e in errors:
                print("     " + e)
        else:
            fp = int.from_bytes(bytes.fromhex(fp_hex), "little")
            print(f"   ok {name}: canonical form and fingerprint {fp:016x} agree; "
                  f"{len(frames)} frames decoded by fastavro to the C values and re-encoded "
                  f"byte for byte")
    print(f"   fastavro {fastavro.__version__}: {len(schemas)} schemas, {frames_total} frames, "
          f"{failures} failing")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: codec_interop.py DIR", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
