#!/usr/bin/python3
"""Tests of `ckptdb import` on Orbax checkpoints: the real ones in
../shared/fixtures/real/ and the cases tests/orbax/orbax_gen.py writes.
Every imported array is compared with an independent decode in this file
(our Python OCDBT reader, numpy and zstandard / gzip for zarr chunks, the
msgpack module for aggregate files). Run with Debian's python3:

  /usr/bin/python3 orbax_import_test.py [TestClass ...]

Environment (set by CTest): CKPTDB (the tool), CKPTDB_SRC (the source
tree), CKPTDB_FIXTURES (the real fixtures; default ../shared/fixtures/real
next to the source tree).
"""

import gzip
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

import msgpack
import numpy as np
import zstandard

CKPTDB = os.environ.get("CKPTDB", "ckptdb")
SRC = os.environ.get("CKPTDB_SRC", os.path.join(os.path.dirname(__file__),
                                                "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "orbax"))
import orbax_gen  # noqa: E402  (our OCDBT reader and the generator)

REAL = os.environ.get("CKPTDB_FIXTURES",
                      os.path.join(SRC, "..", "shared", "fixtures", "real"))
COMPAT = os.path.join(REAL, "google__orbax", "compatibility_checkpoints")
SAR = os.path.join(REAL, "SAR2652__Polynomial-Expansion", "checkpoints")


def run(args, check=True):
    p = subprocess.run([CKPTDB] + args, capture_output=True, text=True,
                       timeout=120)
    if check and p.returncode != 0:
        raise AssertionError(f"ckptdb {' '.join(args)} exited "
                             f"{p.returncode}: {p.stderr}")
    return p


def same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape and
            a.tobytes() == b.tobytes())


# ---- independent zarr decoding ------------------------------------------------

def v2_dtype(s):
    return np.dtype(s)


def decode_v2(get, meta):
    dt = v2_dtype(meta["dtype"])
    shape, chunks = tuple(meta["shape"]), tuple(meta["chunks"])
    order = meta.get("order", "C")
    sep = meta.get("dimension_separator", ".")
    out = np.zeros(shape, dt)
    comp = meta.get("compressor")
    grid = [-(-s // c) for s, c in zip(shape, chunks)]
    for idx in (np.ndindex(*grid) if grid else [()]):
        key = sep.join(map(str, idx)) if idx else "0"
        data = get(key)
        if data is None:
            continue
        if comp is None:
            raw = data
        elif comp["id"] == "zstd":
            raw = zstandard.ZstdDecompressor().decompressobj().decompress(data)
        elif comp["id"] == "gzip":
            raw = gzip.decompress(data)
        elif comp["id"] == "zlib":
            raw = zlib.decompress(data)
        else:
            raise ValueError(comp)
        chunk = np.frombuffer(raw, dt).reshape(chunks, order=order)
        sl = tuple(slice(i * c, min((i + 1) * c, s))
                   for i, c, s in zip(idx, chunks, shape))
        out[sl] = chunk[tuple(slice(0, x.stop - x.start) for x in sl)]
    return out.astype(dt.newbyteorder("="))


def decode_v3(get, meta):
    dt = np.dtype(meta["data_type"])
    shape = tuple(meta["shape"])
    shard = tuple(meta["chunk_grid"]["configuration"]["chunk_shape"])
    (codec,) = meta["codecs"]
    assert codec["name"] == "sharding_indexed"
    conf = codec["configuration"]
    inner = tuple(conf["chunk_shape"])
    names = [c["name"] for c in conf["codecs"]]
    out = np.full(shape, meta["fill_value"], dt)
    grid = [-(-s // c) for s, c in zip(shape, shard)]
    igrid = [s // c for s, c in zip(shard, inner)]
    n = int(np.prod(igrid))
    for sidx in np.ndindex(*grid):
        data = get("c/" + "/".join(map(str, sidx)))
        if data is None:
            continue
        ib = data[-(16 * n + 4):]
        assert struct.unpack("<I", ib[-4:])[0] == orbax_gen.crc32c(ib[:-4])
        full = np.full(shard, meta["fill_value"], dt)
        for k, iidx in enumerate(np.ndindex(*igrid)):
            off, ln = struct.unpack("<QQ", ib[16 * k:16 * k + 16])
            if off == orbax_gen.MISSING:
                continue
            raw = data[off:off + ln]
            if "zstd" in names:
                raw = zstandard.ZstdDecompressor().decompressobj().decompress(
                    raw)
            if "gzip" in names:
                raw = gzip.decompress(raw)
            full[tuple(slice(i * c, (i + 1) * c)
                       for i, c in zip(iidx, inner))] = np.frombuffer(
                raw, dt).reshape(inner)
        sl = tuple(slice(i * c, min((i + 1) * c, s))
                   for i, c, s in zip(sidx, shard, shape))
        out[sl] = full[tuple(slice(0, x.stop - x.start) for x in sl)]
    return out


def decode_param(get, param):
    """The array stored under `param` of a key -> bytes getter."""
    z3 = get(param + "/zarr.json")
    if z3 is not None:
        return decode_v3(lambda k: get(param + "/" + k), json.loads(z3))
    return decode_v2(lambda k: get(param + "/" + k),
                     json.loads(get(param + "/.zarray")))


def expected_ocdbt_item(item):
    """{path: array} of an OCDBT item, decoded independently, paths from
    its _METADATA ('/'-joined keys)."""
    kv = orbax_gen.ocdbt_read(item)
    with open(os.path.join(item, "_METADATA")) as f:
        meta = json.load(f)
    out = {}
    for entry in meta["tree_metadata"].values():
        keys = [k["key"] for k in entry["key_metadata"]]
        vt = entry["value_metadata"]["value_type"]
        if vt in ("None", "Dict", "List", "Tuple", "NamedTuple"):
            continue
        out["/".join(keys)] = decode_param(
            lambda k: kv.get(k.encode()), ".".join(keys))
    return out


def exported(db, step, item="default"):
    """{path: array} of a step's item, through `ckptdb export`."""
    out = tempfile.mkdtemp(dir=os.path.dirname(db))
    os.rmdir(out)
    run(["export", db, str(step), out, "--item", item])
    arrays = {}
    for root, _, files in os.walk(out):
        for f in files:
            if f.endswith(".npy"):
                p = os.path.join(root, f)
                arrays[os.path.relpath(p, out)[:-4]] = np.load(p)
    shutil.rmtree(out)
    return arrays


def dump_tree(db, step, item="default"):
    """The item's structure from `ckptdb dump`: dicts, lists, leaf kinds."""
    doc = json.loads(run(["dump", db, str(step), "--item", item]).stdout)
    (tree,) = [t["tree"] for s in doc["steps"] for t in s["trees"]
               if t["item"] == item]

    def conv(n):
        if n["kind"] == "dict":
            return {e["key"]: conv(e["value"]) for e in n["entries"]}
        if n["kind"] in ("list", "tuple"):
            return [conv(e) for e in n["items"]]
        if n["kind"] in ("str", "int", "float", "bool"):
            return (n["kind"], n.get("value"))
        return n["kind"]
    return conv(tree)


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ckptdb-orbax-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def db(self, name="db"):
        return os.path.join(self.tmp, name)

    def assertArrays(self, got, want, where):
        self.assertEqual(sorted(got), sorted(want), where)
        for k in want:
            self.assertTrue(same(got[k], want[k]),
                            f"{where}: {k}: {got[k]!r} != {want[k]!r}")

    def assertFailsNaming(self, src, fragment, needle=None, code=6):
        db = self.db("bad")
        p = run(["import", db, "1", src, "--create"], check=False)
        self.assertEqual(p.returncode, code, p.stderr)
        self.assertIn(fragment, p.stderr)
        if needle is not None:
            self.assertIn(needle, p.stderr)
        # Nothing partial: the database has no step.
        ls = run(["ls", db, "--json"])
        self.assertEqual(json.loads(ls.stdout)["steps"], [])


def good_compat_cases():
    out = []
    for ver in ("v0_checkpoints", "v1_checkpoints"):
        for kind in ("direct_checkpoint", "composite_checkpoint"):
            base = os.path.join(COMPAT, ver, kind)
            if not os.path.isdir(base):
                continue
            for group in sorted(os.listdir(base)):
                if group.startswith("critical_"):
                    continue
                for case in sorted(os.listdir(os.path.join(base, group))):
                    out.append(os.path.join(base, group, case))
    return out


@unittest.skipUnless(os.path.isdir(COMPAT), "no real fixtures")
class RealOrbaxTest(Base):
    def test_compatibility_checkpoints_import_exactly(self):
        cases = good_compat_cases()
        self.assertGreater(len(cases), 30)
        for n, case in enumerate(cases):
            with self.subTest(case=os.path.relpath(case, COMPAT)):
                db = self.db(f"c{n}")
                run(["import", db, "3", case, "--create"])
                item = case if os.path.exists(
                    os.path.join(case, "manifest.ocdbt")) else os.path.join(
                    case, "state")
                items = json.loads(run(["ls", db, "--json"]).stdout)[
                    "steps"][0]["items"]
                names = [i["name"] for i in items]
                if not os.path.isdir(item):  # deleted_checkpointable
                    self.assertEqual(names, ["metadata"])
                    continue
                name = "default" if item == case else "state"
                self.assertIn(name, names)
                got = exported(db, 3, name)
                self.assertArrays(got, {
                    "a": np.arange(8, dtype=np.int32),
                    "b/c": np.array([1, 2, 3], np.int32)}, case)
                if os.path.exists(os.path.join(item, "_METADATA")):
                    self.assertArrays(got, expected_ocdbt_item(item), case)
                self.assertEqual(dump_tree(db, 3, name),
                                 {"a": "array", "b": {"c": "array"}})
                if "metadata" in names:
                    self.assertEqual(dump_tree(db, 3, "metadata"),
                                     {"metadata": ("str", "json_data")})

    def test_step_metadata_becomes_times_and_custom_metadata(self):
        case = os.path.join(COMPAT, "v0_checkpoints", "direct_checkpoint",
                            "checkpoint_metadata_present",
                            "pytree_checkpointable_has_metadata")
        db = self.db()
        out = json.loads(run(["import", db, "1", case, "--create", "--item",
                              "params", "--json"]).stdout)
        self.assertEqual((out["format"], out["items"], out["step"]),
                         ("orbax", ["params"], 1))
        doc = json.loads(run(["dump", db, "1"]).stdout)
        self.assertEqual(doc["steps"][0]["items"][0]["name"], "params")
        db = self.db("again")
        run(["import", db, "1", case, "--create"])
        doc = json.loads(run(["dump", db, "1"]).stdout)
        step = doc["steps"][0]
        self.assertEqual(step["init_time_ns"], 1778718340383655282)
        self.assertEqual(step["commit_time_ns"], 1778718340783462133)
        self.assertEqual(step["custom_metadata"], {"custom": "meta"})

    def test_critical_alterations_fail_naming_the_file(self):
        for ver in ("v0_checkpoints", "v1_checkpoints"):
            base = os.path.join(COMPAT, ver, "composite_checkpoint")
            self.assertFailsNaming(
                os.path.join(base, "critical_metadata_alterations",
                             "missing_pytree_data_dir_d"),
                "missing data file", "/state/d/")
            self.assertFailsNaming(
                os.path.join(base, "critical_metadata_alterations",
                             "missing_pytree_data_file_manifest.ocdbt"),
                "missing OCDBT manifest", "/state/manifest.ocdbt")
        base = os.path.join(COMPAT, "v0_checkpoints", "direct_checkpoint",
                            "critical_metadata_alterations")
        self.assertFailsNaming(os.path.join(base, "missing_pytree_data_dir_d"),
                               "missing data file", "missing_pytree_data_dir_d/d/")
        self.assertFailsNaming(
            os.path.join(base, "missing_pytree_data_file_manifest.ocdbt"),
            "missing OCDBT manifest")
        self.assertFailsNaming(
            os.path.join(COMPAT, "v1_checkpoints", "composite_checkpoint",
                         "critical_general_alterations",
                         "dummy_checkpointable_added"),
            "dummy/_METADATA", "not a JSON object")

    def test_real_training_step_imports_exactly(self):
        step = os.path.join(SAR, "1")
        db = self.db()
        run(["import", db, "1", step, "--create"])
        got = exported(db, 1)
        want = expected_ocdbt_item(os.path.join(step, "default"))
        self.assertEqual(len(want), 134)
        self.assertArrays(got, want, step)
        tree = dump_tree(db, 1)
        self.assertEqual(list(tree), ["step", "params", "opt_state"])
        # ('opt_state', '0' | '1'): a list; the empty optax state is None.
        self.assertIsInstance(tree["opt_state"], list)
        self.assertEqual(tree["opt_state"][1], "none")
        self.assertEqual(sorted(tree["opt_state"][0]), ["count", "mu", "nu"])

    def test_manager_root_all(self):
        db = self.db()
        p = run(["import", db, "--all", SAR, "--create"])
        self.assertIn("as step 1", p.stdout)
        doc = json.loads(run(["ls", db, "--json"]).stdout)
        self.assertEqual([s["step"] for s in doc["steps"]], [1])
        self.assertEqual(doc["steps"][0]["commit_time_ns"],
                         1752428126676800000)

    def test_aggregate_files(self):
        agg = os.path.join(REAL, "google__orbax")
        for name in ("aggregate_all.checkpoint", "aggregate_some.checkpoint"):
            src = os.path.join(agg, name)
            db = self.db(name)
            run(["import", db, "1", src, "--create"])
            with open(os.path.join(src, "checkpoint"), "rb") as f:
                doc = msgpack.unpackb(f.read(), raw=False, strict_map_key=False)
            want = {}

            def walk(node, path):
                if isinstance(node, dict):
                    for k, v in node.items():
                        walk(v, path + [k])
                elif isinstance(node, msgpack.ExtType):
                    shape, dtype, data = msgpack.unpackb(node.data)
                    want["/".join(path)] = np.frombuffer(
                        data, np.dtype(dtype)).reshape(shape)
                elif isinstance(node, str) and node.startswith(
                        "PLACEHOLDER://"):
                    param = node[len("PLACEHOLDER://"):]
                    d = os.path.join(src, param)

                    def get(k):
                        p = os.path.join(d, k)
                        if not os.path.exists(p):
                            return None
                        with open(p, "rb") as f:
                            return f.read()
                    want["/".join(path)] = decode_param(
                        lambda k: get(k[len(param) + 1:]), param)
            walk(doc, [])
            self.assertEqual(len(want), 4)
            self.assertArrays(exported(db, 1), want, name)
            self.assertTrue(same(want["b"], np.arange(0, 32, 2, np.int64)))

    def test_t5x_tensorstore_spec_checkpoint(self):
        src = os.path.join(REAL, "google-research__t5x", "tiny_t5",
                           "checkpoint_1")
        db = self.db()
        run(["import", db, "1", src, "--create"])
        with open(os.path.join(src, "checkpoint"), "rb") as f:
            doc = msgpack.unpackb(f.read(), strict_map_key=False)
        want = {}
        for name, spec in doc["optimizer"]["state"]["param_states"].items():
            meta = dict(spec["metadata"], dtype=np.dtype(spec["dtype"]).str,
                        zarr_format=2)
            d = os.path.join(src, spec["kvstore"]["path"])

            def get(k, d=d):
                if not os.path.exists(os.path.join(d, k)):
                    return None
                with open(os.path.join(d, k), "rb") as f:
                    return f.read()
            want["optimizer/state/param_states/" + name] = decode_v2(get, meta)
        step = msgpack.unpackb(doc["optimizer"]["state"]["step"].data)
        want["optimizer/state/step"] = np.frombuffer(step[2], step[1]).reshape(
            step[0])
        got = {k: v for k, v in exported(db, 1).items() if k != "version"}
        self.assertArrays(got, want, src)
        self.assertEqual(want["optimizer/state/param_states/kernel"].shape,
                         (10, 5))

    def test_t5x_orbax_without_zarr_metadata_is_refused(self):
        src = os.path.join(REAL, "google-research__t5x", "tiny_orbax", "1")
        self.assertFailsNaming(src, "no zarr metadata",
                               "_optimizer.state.param_states.bias/.zarray")


class GeneratedOrbaxTest(Base):
    @classmethod
    def setUpClass(cls):
        cls.gen = tempfile.mkdtemp(prefix="ckptdb-orbax-gen-")
        subprocess.run([sys.executable,
                        os.path.join(SRC, "tests", "orbax", "orbax_gen.py"),
                        cls.gen], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.gen, ignore_errors=True)

    def expected(self, case):
        with np.load(os.path.join(self.gen, case + ".npz")) as z:
            return {k: z[k] for k in z.files}

    def test_cases_import_exactly(self):
        for case in ("v2_folders", "aggregate_gzip", "v3_sharded",
                     "multiprocess", "numbered"):
            with self.subTest(case=case):
                db = self.db(case)
                run(["import", db, "1", os.path.join(self.gen, case),
                     "--create"])
                # Scalars and strings are checked through dump below.
                scalars = {"v2_folders": ("step", "name"),
                           "aggregate_gzip": ("count",)}.get(case, ())
                got = {k: v for k, v in exported(db, 1).items()
                       if k not in scalars}
                self.assertArrays(got, self.expected(case), case)
        self.assertEqual(dump_tree(self.db("v2_folders"), 1), {
            "params": {"w": "array", "b": "array"},
            "layers": ["array", "array"],
            "step": ("int", 7),
            "name": ("str", "run-α"),
            "d": "array",
            "opt": [{}, "none"]})
        self.assertEqual(dump_tree(self.db("aggregate_gzip"), 1), {
            "enc": {"kernel": "array", "bias": "array"},
            "count": ("int", 3)})

    def test_multiprocess_ocdbt_matches_our_python_reader(self):
        item = os.path.join(self.gen, "multiprocess")
        kv = orbax_gen.ocdbt_read(item)
        self.assertEqual(len(kv), 7)
        db = self.db()
        run(["import", db, "1", item, "--create"])
        self.assertArrays(exported(db, 1), expected_ocdbt_item(item), item)

    def test_manager_root_all_skips_unfinished_steps(self):
        db = self.db()
        p = run(["import", db, "--all", os.path.join(self.gen,
                                                     "manager_root"),
                 "--create"])
        self.assertIn("unfinished save", p.stderr)
        doc = json.loads(run(["ls", db, "--json"]).stdout)
        steps = doc["steps"]
        self.assertEqual([(s["step"], s["name"]) for s in steps],
                         [(4, "ckpt_0004"), (12, "ckpt_0012")])
        self.assertEqual(steps[0]["metrics"], {"loss": 1.0, "acc": 4})
        self.assertEqual(steps[1]["commit_time_ns"],
                         1_700_000_000_000_000_112)
        got = exported(db, 12)
        self.assertArrays(got, self.expected("multiprocess"), "step 12")
        p = run(["import", self.db("tmp"), "1",
                 os.path.join(self.gen, "manager_root",
                              "ckpt_0020.orbax-checkpoint-tmp-1700"),
                 "--create"], check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unfinished save", p.stderr)

    def damaged_copy(self, case):
        dst = os.path.join(self.tmp, "src")
        shutil.copytree(os.path.join(self.gen, case), dst)
        return dst

    def test_damaged_ocdbt_fails_naming_the_file(self):
        src = self.damaged_copy("multiprocess")
        with open(os.path.join(src, "manifest.ocdbt"), "r+b") as f:
            data = bytearray(f.read())
            data[20] ^= 0xFF
            f.seek(0)
            f.write(data)
        self.assertFailsNaming(src, "crc32c mismatch", "manifest.ocdbt")
        shutil.rmtree(src)
        src = self.damaged_copy("multiprocess")
        node = os.path.join(src, "d", "f" * 32)
        with open(node, "r+b") as f:
            f.truncate(os.path.getsize(node) - 3)
        self.assertFailsNaming(src, "run past the end of the file", node)
        shutil.rmtree(src)
        src = self.damaged_copy("multiprocess")
        vfile = os.path.join(src, "ocdbt.process_1", "d", f"{1:032x}")
        os.remove(vfile)
        self.assertFailsNaming(src, "missing data file", vfile)

    def test_damaged_zarr_fails_naming_the_chunk(self):
        src = self.damaged_copy("v2_folders")
        with open(os.path.join(src, "params.w", "0.0"), "wb") as f:
            f.write(b"not gzip at all")
        self.assertFailsNaming(src, "params.w", "chunk '0.0'")
        shutil.rmtree(src)
        src = self.damaged_copy("v3_sharded")
        shard = os.path.join(src, "a", "c", "0", "0")
        with open(shard, "r+b") as f:
            data = bytearray(f.read())
            data[-1] ^= 1
            f.seek(0)
            f.write(data)
        self.assertFailsNaming(src, "crc32c mismatch", "shard index")
        shutil.rmtree(src)
        src = self.damaged_copy("v2_folders")
        with open(os.path.join(src, "params.b", ".zarray"), "w") as f:
            json.dump({"zarr_format": 2, "shape": [4, 3], "chunks": [3, 2],
                       "dtype": "<i2", "compressor": {"id": "lzma"},
                       "fill_value": 0, "order": "C", "filters": None}, f)
        self.assertFailsNaming(src, "unsupported codec 'lzma'", code=1)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:], verbosity=2)
