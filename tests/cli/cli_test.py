#!/usr/bin/python3
"""Tests of the ckptdb tool with numpy, a second process, a terminal, and
RocksDB's and FlatBuffers' own tools. Run with Debian's python3 (numpy):

  /usr/bin/python3 cli_test.py [TestClass ...]

Environment (set by CTest): CKPTDB (the tool), CKPTDB_HELPER
(cli_test_helper), CKPTDB_CLI_WORK (its fixture/ holds the databases made
by `run_golden.py --make-fixture`), CKPTDB_SRC (the source tree).
"""

import json
import os
import pty
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest

import numpy as np

CKPTDB = os.environ.get("CKPTDB", "ckptdb")
HELPER = os.environ.get("CKPTDB_HELPER", "cli_test_helper")
SRC = os.environ.get("CKPTDB_SRC", os.path.join(os.path.dirname(__file__),
                                                "..", ".."))
FIXTURE = os.path.join(os.environ.get("CKPTDB_CLI_WORK", "."), "fixture")


def run(args, cwd, check=True, **kw):
    p = subprocess.run([CKPTDB] + args, cwd=cwd, capture_output=True,
                       text=True, timeout=60, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"ckptdb {' '.join(args)} exited "
                             f"{p.returncode}: {p.stderr}")
    return p


def same(a, b):
    """Same dtype, shape and bytes (NaN payloads and -0.0 included)."""
    a, b = np.asarray(a), np.asarray(b)
    return (a.dtype == b.dtype and a.shape == b.shape and
            np.ascontiguousarray(a).tobytes() ==
            np.ascontiguousarray(b).tobytes())


def native(a):
    """`a` as ckptdb stores it: C order, little-endian."""
    if a.dtype.kind == "U":
        return a
    return a.astype(a.dtype.newbyteorder("="), order="C")


def fixture_step(s):
    """The leaves of item 'default' of fixture step `s` (cli_test_helper's
    ModelTree), as `ckptdb export` writes them: file path -> value."""
    i = np.arange
    d = {
        "step.npy": np.array(s, dtype=np.int64),
        "params/dense/kernel.npy":
            ((i(512) % 17 - 8) / 4).astype(np.float32).reshape(16, 32),
        "params/dense/bias.npy": np.zeros(32, np.float32),
        "params/head.npy":
            (((i(1280) * 7 + s) % 13 - 6) * 0.125).astype(np.float32)
            .reshape(32, 40),
        # bfloat16, widened to float32 by export.
        "params/embed.npy": ((i(32) - 16) * 0.25).astype(np.float32)
                            .reshape(8, 4),
        "buffers/counts.npy": (i(6) * (s + 1)).astype(np.int64),
        "buffers/mask.npy": np.array([[1, 0, 1], [1, 0, 0]], dtype=bool),
        "buffers/small_i8.npy": np.array([-2, -1, 0, 1, 2], np.int8),
        "buffers/half.npy": np.array([0x3800, 0xbd00, 0x7bff, 0x7e00],
                                     np.uint16).view(np.float16),
        "buffers/special.npy": np.array([0.0, -0.0, np.nan, np.inf, -np.inf,
                                         1e-300]),
        "buffers/complex.npy": np.array([1 + 2j, -0.5 + 0j,
                                         complex(0.0, -1.5)], np.complex64),
        "buffers/big.npy": i(2000) * 0.5,
        "buffers/cube.npy": i(24, dtype=np.int64 if s == 4 else np.int32)
                            .reshape(2, 3, 4),
        "buffers/empty.npy": np.zeros(0, np.float32),
        "buffers/scalar0d.npy": np.array(3.5, np.float32),
        "buffers/with_nan.npy": np.array([1, np.nan, -2, 0.25], np.float32),
        "opt_state/0/count.npy": np.array(s, np.int64),
        "opt_state/1/0.npy": np.array(0.9),
        "opt_state/1/1.npy": np.array(0.999),
        "meta/name.npy": np.array("run 'alpha'"),
        "meta/lr.npy": np.array(0.001),
        "meta/flag.npy": np.array(True),
        "meta/7.npy": np.array(49, np.int64),
        "meta/a%2Fb.npy": np.array(1, np.int64),
        "meta/%.npy": np.array("empty key"),
    }
    if s == 4:
        d["params/extra.npy"] = np.array([1.5, 2.5, 3.5], np.float32)
    else:
        d["buffers/u16.npy"] = np.array([0, 1000, 65535], np.uint16)
    return d


class WorkDir(unittest.TestCase):
    """A fresh directory with copies of the fixture databases."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ckptdb-cli-test-")
        for name in ("db", "db2"):
            shutil.copytree(os.path.join(FIXTURE, name),
                            os.path.join(self.dir, name))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, *p):
        return os.path.join(self.dir, *p)

    def ckptdb(self, *args, check=True):
        return run(list(args), self.dir, check=check)


class RunsTest(WorkDir):
    """ckptdb runs, and RUN:STEP wherever a step is taken."""

    def setUp(self):
        super().setUp()
        subprocess.run([HELPER, "make-runs", self.path("r")], check=True)

    def test_runs_lists_every_run_with_unique_and_shared_bytes(self):
        out = json.loads(self.ckptdb("runs", "r", "--json").stdout)
        runs = {r["run"]: r for r in out["runs"]}
        self.assertEqual(sorted(runs), ["base", "ft"])
        self.assertEqual(runs["base"]["steps"], 1)
        self.assertEqual(runs["ft"]["steps"], 2)
        self.assertEqual(runs["ft"]["latest"], 1)
        # base:0 is shared whole with ft:0 (a fork); ft:1 adds one chunk.
        self.assertEqual(runs["base"]["unique_bytes"], 0)
        self.assertGreater(runs["ft"]["unique_bytes"], 0)
        self.assertGreater(out["shared_bytes"], 0)
        text = self.ckptdb("runs", "r").stdout
        self.assertIn("shared by several runs", text)

    def test_ls_of_a_run_and_stats_by_run(self):
        ls = json.loads(self.ckptdb("ls", "r", "ft", "--json").stdout)
        self.assertEqual(ls["run"], "ft")
        self.assertEqual([s["step"] for s in ls["steps"]], [0, 1])
        text = self.ckptdb("ls", "r", "base").stdout
        self.assertIn("other runs: ft", text)
        missing = self.ckptdb("ls", "r", "nope", check=False)
        self.assertEqual(missing.returncode, 4)
        self.assertIn("no run 'nope'", missing.stderr)
        self.assertIn("runs: base, ft", missing.stderr)
        stats = json.loads(self.ckptdb("stats", "r", "--json").stdout)
        by_run = {r["run"]: r for r in stats["runs"]}
        runs = {r["run"]: r for r in json.loads(
            self.ckptdb("runs", "r", "--json").stdout)["runs"]}
        for name in ("base", "ft"):
            self.assertEqual(by_run[name]["unique_bytes"],
                             runs[name]["unique_bytes"])
        # Every stored byte is one run's or shared.
        self.assertEqual(sum(r["unique_bytes"] for r in stats["runs"]) +
                         stats["shared_bytes"], stats["stored_bytes"])
        self.assertIn("(shared)", self.ckptdb("stats", "r").stdout)

    def test_run_step_arguments(self):
        diff = self.ckptdb("diff", "r", "base:0", "ft:latest").stdout
        self.assertIn("1 changed", diff)
        same = self.ckptdb("diff", "r", "base:0", "ft:0").stdout
        self.assertIn("0 changed", same)
        self.assertIn("params", self.ckptdb("tree", "r", "ft:1").stdout)
        self.ckptdb("verify", "r", "ft:0")
        missing = self.ckptdb("tree", "r", "nope:0", check=False)
        self.assertEqual(missing.returncode, 4)
        self.assertIn("run 'nope'", missing.stderr)
        bad = self.ckptdb("tree", "r", "a/b:0", check=False)
        self.assertEqual(bad.returncode, 2)
        self.assertIn("bad run name", bad.stderr)
        self.ckptdb("rm", "r", "ft:0")
        out = json.loads(self.ckptdb("runs", "r", "--json").stdout)
        self.assertEqual({r["run"]: r["steps"] for r in out["runs"]},
                         {"base": 1, "ft": 1})


class NumpyExportTest(WorkDir):
    """`ckptdb export`, then numpy reads the files: exact values."""

    def test_folder_tree(self):
        self.ckptdb("export", "db", "test_4", "out")
        want = fixture_step(4)
        files = set()
        for root, dirs, names in os.walk(self.path("out")):
            for n in names:
                files.add(os.path.relpath(os.path.join(root, n),
                                          self.path("out")))
        self.assertEqual(files, set(want))
        for f, v in want.items():
            got = np.load(self.path("out", f))
            self.assertTrue(same(got, v), f"{f}: {got!r} != {v!r}")
        # Empty containers are empty folders.
        for d in ("meta/empty_list", "meta/empty_dict"):
            self.assertEqual(os.listdir(self.path("out", d)), [])

    def test_npz(self):
        self.ckptdb("export", "db", "2", "s2.npz", "--npz")
        want = fixture_step(2)
        with np.load(self.path("s2.npz")) as z:
            self.assertEqual(sorted(z.files),
                             sorted(f[:-4] for f in want))
            for f, v in want.items():
                self.assertTrue(same(z[f[:-4]], v), f)

    def test_npz_into_a_new_folder_and_empty_out(self):
        self.ckptdb("export", "db", "2", "new/sub/s2.npz", "--npz")
        with np.load(self.path("new", "sub", "s2.npz")) as z:
            self.assertEqual(len(z.files), len(fixture_step(2)))
        p = self.ckptdb("export", "db", "2", "", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("OUT is empty", p.stderr)

    def test_npz_non_ascii_names(self):
        # Zip members need the UTF-8 flag, or numpy reads them as CP437.
        names = {"\u00fcn\u00ef c\u00f8d\u00e9 \u2713": np.arange(3),
                 "plain": np.ones(2)}
        np.savez(self.path("u.npz"), **names)
        self.ckptdb("import", "db", "40", "u.npz")
        self.ckptdb("export", "db", "40", "u_out.npz", "--npz")
        with np.load(self.path("u_out.npz")) as z:
            self.assertEqual(sorted(z.files), sorted(names))
            for k, v in names.items():
                self.assertTrue(same(z[k], v), k)

    def test_other_item(self):
        self.ckptdb("export", "db", "latest", "ema", "--item", "ema")
        got = np.load(self.path("ema", "kernel.npy"))
        self.assertTrue(same(got, fixture_step(4)["params/dense/kernel.npy"]))

    def test_show_prints_like_numpy(self):
        """`ckptdb show` of every array leaf equals numpy's repr() of the
        exported file (bfloat16 excepted: numpy has none)."""
        out = json.loads(self.ckptdb("export", "db", "4", "out",
                                     "--json").stdout)
        checked = 0
        for f in out["files"]:
            if f["dtype"] in ("int", "float", "bool", "str", "bfloat16"):
                continue  # scalars print as Python scalars
            a = np.load(self.path("out", f["file"]))
            shown = self.ckptdb("show", "db", "4", f["path"]).stdout
            self.assertEqual(shown, repr(a) + "\n", f["path"])
            checked += 1
        self.assertGreaterEqual(checked, 14)

    def test_stats_match_numpy(self):
        self.ckptdb("export", "db", "4", "out")
        for path in ("buffers/with_nan", "buffers/big", "params/head",
                     "buffers/counts", "buffers/half"):
            a = np.load(self.path("out", path + ".npy"))
            st = json.loads(self.ckptdb("show", "db", "4", path, "--stats",
                                        "--json").stdout)["stats"]
            self.assertEqual(st["count"], a.size)
            self.assertEqual(st["nan_count"], int(np.isnan(a).sum())
                             if a.dtype.kind == "f" else 0)
            self.assertEqual(st["min"], float(np.nanmin(a)), path)
            self.assertEqual(st["max"], float(np.nanmax(a)), path)
            self.assertAlmostEqual(st["mean"],
                                   float(np.nanmean(a.astype(np.float64))),
                                   places=9, msg=path)


class NumpyImportTest(WorkDir):
    """Files written by numpy (np.savez, np.savez_compressed, np.save)
    imported as new steps, exported back and compared exactly."""

    def arrays(self):
        rng = np.random.default_rng(7)
        return {
            "layer0/w": rng.standard_normal((7, 9)).astype(np.float32),
            "layer0/b": np.zeros(9, np.float32),
            "layer1/w": rng.standard_normal((40, 50)).astype(np.float32),
            "small": rng.standard_normal(50) * 1e-3,
            "wide": np.array([1e-5, 1.0, 12345.678]),
            "huge": rng.standard_normal(20) * 1e9,
            "h16": rng.standard_normal(10).astype(np.float16),
            "c128": rng.standard_normal(4) + 1j * rng.standard_normal(4),
            "u64": np.array([0, 2**64 - 1, 12345], np.uint64),
            "i64": np.arange(-5000, 0, dtype=np.int64),
            "flags": rng.random((2, 3, 4)) > 0.5,
            "big_endian": np.arange(5, dtype=">i4"),
            "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
            "empty": np.zeros((0, 3), np.float32),
            "scalar": np.array(2.5),
            "text": np.array("hello w\u00f6rld \u2603"),
            "large": rng.random(400_000).astype(np.float32),  # > 1 MiB
            # Integer-valued floats beyond the shortest repr's digits:
            # numpy prints every integer digit exactly.
            "int_f32": np.array([99999992.0, 99999984.0], np.float32),
            "int_f16": np.array([43136.0, np.inf, 4096.0], np.float16),
            "int_f32_0d": np.array(99999992.0, np.float32),
        }

    def check_step(self, step, arrays):
        self.ckptdb("export", "db", str(step), f"e{step}.npz", "--npz")
        with np.load(self.path(f"e{step}.npz")) as z:
            self.assertEqual(sorted(z.files), sorted(arrays))
            for k, v in arrays.items():
                want = native(v)
                self.assertTrue(same(z[k], want), k)

    def test_savez_and_savez_compressed(self):
        arrays = self.arrays()
        np.savez(self.path("plain.npz"), **arrays)
        np.savez_compressed(self.path("packed.npz"), **arrays)
        self.ckptdb("import", "db", "20", "plain.npz")
        self.ckptdb("import", "db", "21", "packed.npz")
        self.check_step(20, arrays)
        self.check_step(21, arrays)
        # Folders became dicts; the two imports are identical by hash.
        tree = json.loads(self.ckptdb("tree", "db", "20", "--json").stdout)
        root = tree["items"][0]["tree"]
        self.assertEqual(root["kind"], "dict")
        layer0 = [e for e in root["entries"] if e["key"] == "layer0"][0]
        self.assertEqual([e["key"] for e in layer0["value"]["entries"]],
                         ["w", "b"])
        diff = json.loads(self.ckptdb("diff", "db", "20", "21",
                                      "--json").stdout)
        self.assertEqual(diff["summary"], {"added": 0, "removed": 0,
                                           "changed": 0,
                                           "identical": len(arrays)})
        self.ckptdb("verify", "db")

    def test_show_prints_like_numpy(self):
        arrays = self.arrays()
        np.savez(self.path("a.npz"), **arrays)
        self.ckptdb("import", "db", "30", "a.npz")
        for k, v in arrays.items():
            if v.dtype.kind == "U":
                continue
            v = native(v)
            shown = self.ckptdb("show", "db", "30", k).stdout
            self.assertEqual(shown, repr(v) + "\n", k)

    def test_stats_json_integers_are_exact(self):
        arrays = {"i64": np.array([-2**63, 2**63 - 1, 5], np.int64),
                  "u64": np.array([0, 2**64 - 1], np.uint64)}
        np.savez(self.path("ints.npz"), **arrays)
        self.ckptdb("import", "db", "31", "ints.npz")
        for k, v in arrays.items():
            st = json.loads(self.ckptdb("show", "db", "31", k, "--stats",
                                        "--json").stdout)["stats"]
            self.assertEqual((st["min"], st["max"]), (int(v.min()),
                                                      int(v.max())), k)
            self.assertIsInstance(st["max"], int, k)

    def test_folder_of_npy_files(self):
        arrays = self.arrays()
        for k, v in arrays.items():
            f = self.path("tree", k + ".npy")
            os.makedirs(os.path.dirname(f), exist_ok=True)
            np.save(f, v)
        os.makedirs(self.path("tree", "nothing_here"))
        with open(self.path("tree", "README.txt"), "w") as f:
            f.write("not an array\n")
        p = self.ckptdb("import", "db", "22", "tree", "--item", "imported")
        self.assertIn("ignoring", p.stderr)
        self.ckptdb("export", "db", "22", "back", "--item", "imported")
        for k, v in arrays.items():
            want = native(v)
            self.assertTrue(same(np.load(self.path("back", k + ".npy")),
                                 want), k)
        self.assertEqual(os.listdir(self.path("back", "nothing_here")), [])

    def test_new_database_and_single_file(self):
        np.save(self.path("one.npy"), np.arange(6.0).reshape(2, 3))
        self.ckptdb("import", "fresh", "0", "one.npy", "--create")
        shown = self.ckptdb("show", "fresh", "latest", "").stdout
        self.assertEqual(shown, repr(np.arange(6.0).reshape(2, 3)) + "\n")
        p = self.ckptdb("import", "nodb", "0", "one.npy", check=False)
        self.assertEqual(p.returncode, 3)

    def test_bad_inputs(self):
        np.save(self.path("obj.npy"), np.array([{"a": 1}], dtype=object),
                allow_pickle=True)
        p = self.ckptdb("import", "db", "40", "obj.npy", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("unsupported numpy dtype '|O'", p.stderr)
        with open(self.path("junk.npz"), "wb") as f:
            f.write(b"PK\x03\x04 this is not a zip archive")
        p = self.ckptdb("import", "db", "40", "junk.npz", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("not a valid .npz/zip archive", p.stderr)
        # A symlink back to an ancestor folder, a name that is not UTF-8.
        os.makedirs(self.path("loop", "sub"))
        np.save(self.path("loop", "a.npy"), np.ones(1))
        os.symlink("..", self.path("loop", "sub", "up"))
        p = self.ckptdb("import", "db", "40", "loop", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("leads back to a folder being imported", p.stderr)
        os.makedirs(self.path("bytes"))
        with open(os.path.join(self.path("bytes").encode(), b"\xff.npy"),
                  "wb") as f:
            np.save(f, np.ones(1))
        p = self.ckptdb("import", "db", "40", "bytes", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("the name is not valid UTF-8", p.stderr)
        self.assertNotIn("test_40", self.ckptdb("ls", "db").stdout)


# ---- safetensors -------------------------------------------------------------

REAL = os.environ.get("CKPTDB_REAL_FIXTURES", "/work/shared/fixtures/real")
# safetensors dtype -> numpy dtype (BF16: numpy has none; export widens it).
ST_NUMPY = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8",
            "I32": "<i4", "I16": "<i2", "I8": "i1", "U64": "<u8",
            "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?",
            "C64": "<c8"}


def st_decode(path):
    """An independent decoder: (metadata or None, {name: ndarray})."""
    with open(path, "rb") as f:
        b = f.read()
    (n,) = struct.unpack("<Q", b[:8])
    header = json.loads(b[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    data = b[8 + n:]
    out = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        a = np.frombuffer(data[begin:end], dtype=ST_NUMPY[t["dtype"]])
        out[name] = a.reshape(t["shape"])
    return meta, out


def st_encode(tensors, meta=None, header=None):
    """A file for `tensors` ({name: ndarray}) in name order; `header`
    replaces the JSON (for corrupt files)."""
    rev = {np.dtype(v).str: k for k, v in ST_NUMPY.items()}
    h, data = {}, b""
    if meta is not None:
        h["__metadata__"] = meta
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        h[name] = {"dtype": rev[a.dtype.str], "shape": list(a.shape),
                   "data_offsets": [len(data), len(data) + a.nbytes]}
        data += a.tobytes()
    js = (header if header is not None else json.dumps(h)).encode()
    return struct.pack("<Q", len(js)) + js + data


def real_safetensors():
    out = []
    for root, _, files in os.walk(REAL):
        out += [os.path.join(root, f) for f in files
                if f.endswith(".safetensors")]
    return sorted(out)


class SafetensorsTest(WorkDir):
    """safetensors import (real files and crafted ones) and export."""

    def write(self, name, b):
        with open(self.path(name), "wb") as f:
            f.write(b)
        return name

    def steps(self, db="db"):
        return self.ckptdb("ls", db, "--json").stdout

    def custom_metadata(self, db, step):
        d = json.loads(self.ckptdb("dump", db, str(step)).stdout)
        return d["steps"][0]["custom_metadata"]

    def check_against(self, db, step, path, flat=False):
        """Step `step` holds exactly the tensors of file `path`."""
        meta, tensors = st_decode(path)
        out = f"e{step}.npz"
        self.ckptdb("export", db, str(step), out, "--npz")
        with np.load(self.path(out)) as z:
            names = [n if flat else n.replace(".", "/") for n in tensors]
            self.assertEqual(sorted(z.files), sorted(names), path)
            for n, key in zip(tensors, names):
                self.assertTrue(same(z[key], native(tensors[n])),
                                f"{path}: {n}")
        self.assertEqual(self.custom_metadata(db, step), meta, path)

    def test_every_real_file_imports(self):
        files = real_safetensors()
        self.assertGreaterEqual(len(files), 18)
        for i, f in enumerate(files):
            p = self.ckptdb("import", "st", str(i), f, "--create", "--json")
            self.assertEqual(json.loads(p.stdout)["format"], "safetensors")
            self.check_against("st", i, f)
        self.ckptdb("verify", "st")

    def test_export_import_round_trip(self):
        for i, f in enumerate(real_safetensors()):
            self.ckptdb("import", "st", str(i), f, "--create")
            out = f"rt{i}.safetensors"
            self.ckptdb("export", "st", str(i), out, "--safetensors")
            meta, got = st_decode(self.path(out))
            want_meta, want = st_decode(f)
            self.assertEqual(meta, want_meta, f)
            self.assertEqual(sorted(got), sorted(want), f)
            for n in want:
                self.assertTrue(same(got[n], want[n]), f"{f}: {n}")
            # The header is upstream's form: padded to 8 bytes.
            with open(self.path(out), "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
            self.assertEqual(n % 8, 0)
            self.ckptdb("import", "st", str(1000 + i), out)
            diff = json.loads(self.ckptdb("diff", "st", str(i),
                                          str(1000 + i), "--json").stdout)
            self.assertEqual(diff["summary"]["changed"], 0, f)
            self.assertEqual(diff["summary"]["added"], 0, f)

    def test_generated_dtypes_nesting_and_flat(self):
        rng = np.random.default_rng(3)
        tensors = {
            "enc.layer.0.w": rng.standard_normal((3, 4)).astype(np.float32),
            "enc.layer.1.w": rng.standard_normal((2,)).astype(np.float16),
            "enc.count": np.array(7, np.int64),
            "u": np.array([0, 2**64 - 1], np.uint64),
            "i8": np.array([-128, 127], np.int8),
            "mask": np.array([True, False, True]),
            "empty": np.zeros((0, 5), np.float64),
            "c": np.array([1 + 2j], np.complex64),
        }
        self.write("g.safetensors", st_encode(tensors, {"k": "v"}))
        self.ckptdb("import", "db", "50", "g.safetensors")
        self.check_against("db", 50, self.path("g.safetensors"))
        tree = json.loads(self.ckptdb("tree", "db", "50", "--json").stdout)
        root = tree["items"][0]["tree"]
        self.assertEqual(sorted(e["key"] for e in root["entries"]),
                         ["c", "empty", "enc", "i8", "mask", "u"])
        self.ckptdb("import", "db", "51", "g.safetensors", "--flat")
        self.check_against("db", 51, self.path("g.safetensors"), flat=True)
        # bfloat16 (written raw): imported as bfloat16, exported unchanged.
        bf = np.array([0x3f80, 0xc000, 0x7f80], np.uint16)
        h = json.dumps({"b": {"dtype": "BF16", "shape": [3],
                              "data_offsets": [0, 6]}}).encode()
        self.write("bf.safetensors",
                   struct.pack("<Q", len(h)) + h + bf.tobytes())
        self.ckptdb("import", "db", "52", "bf.safetensors")
        shown = json.loads(self.ckptdb("tree", "db", "52", "--json").stdout)
        self.assertIn("bfloat16", json.dumps(shown))
        self.ckptdb("export", "db", "52", "bf2.safetensors", "--safetensors")
        with open(self.path("bf2.safetensors"), "rb") as fh:
            b = fh.read()
        self.assertEqual(b[-6:], bf.tobytes())
        self.assertIn(b'"BF16"', b)
        # --format forces the format; npz and npy still import.
        self.ckptdb("import", "db", "53", "g.safetensors", "--format",
                    "safetensors")
        np.savez(self.path("x.npz"), a=np.ones(2))
        self.ckptdb("import", "db", "54", "x.npz")
        self.ckptdb("import", "db", "55", "x.npz", "--format", "npz")
        p = self.ckptdb("import", "db", "56", "x.npz", "--format",
                        "safetensors", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("x.npz: byte 0", p.stderr)

    def test_collisions_and_corrupt_files_change_nothing(self):
        before = self.steps()
        self.write("clash.safetensors", st_encode(
            {"a": np.ones(1, np.float32), "a.b": np.ones(1, np.float32)}))
        p = self.ckptdb("import", "db", "60", "clash.safetensors",
                        check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("tensor names 'a' and 'a.b' collide", p.stderr)
        good = st_encode({"x": np.arange(4, dtype=np.float32),
                          "y": np.arange(2, dtype=np.int64)})
        (n,) = struct.unpack("<Q", good[:8])
        hdr = json.loads(good[8:8 + n])
        overlap = dict(hdr)
        overlap["y"] = dict(hdr["y"], data_offsets=[8, 24])
        hole = dict(hdr)
        hole["y"] = dict(hdr["y"], data_offsets=[20, 36])
        outside = dict(hdr)
        outside["y"] = dict(hdr["y"], shape=[3], data_offsets=[16, 40])
        f8 = dict(hdr)
        f8["y"] = dict(hdr["y"], dtype="F8_E4M3", shape=[16])
        mism = dict(hdr)
        mism["y"] = dict(hdr["y"], shape=[3])
        cases = {
            "truncated": (good[:5], "byte 0: truncated"),
            "cut": (good[:-3], "outside the data"),
            "lying": (struct.pack("<Q", n + 1000) + good[8:],
                      "runs past the end of the file"),
            "huge": (struct.pack("<Q", 2**40) + good[8:],
                     "above the limit"),
            "overlap": (st_encode({}, header=json.dumps(overlap)) + good[8 + n:],
                        "overlapping tensor 'x'"),
            "hole": (st_encode({}, header=json.dumps(hole)) + good[8 + n:] +
                     b"\0" * 4, "leaving a hole"),
            "outside": (st_encode({}, header=json.dumps(outside)) +
                        good[8 + n:], "outside the data"),
            "dtype": (st_encode({}, header=json.dumps(f8)) + good[8 + n:],
                      "tensor 'y': dtype F8_E4M3 is not supported"),
            "size": (st_encode({}, header=json.dumps(mism)) + good[8 + n:],
                     "tensor 'y': data_offsets [16, 32] span 16 bytes"),
            "json": (st_encode({}, header='{"x": [1,}') + good[8 + n:],
                     "invalid JSON"),
        }
        for name, (b, msg) in cases.items():
            f = self.write(name + ".safetensors", b)
            p = self.ckptdb("import", "db", "61", f, "--format",
                            "safetensors", check=False)
            self.assertNotEqual(p.returncode, 0, name)
            self.assertIn(f"{f}: byte ", p.stderr, name)
            self.assertIn(msg, p.stderr, name)
            self.assertNotIn("Traceback", p.stderr)
        self.assertEqual(self.steps(), before)

    def test_export_refuses_what_safetensors_cannot_hold(self):
        p = self.ckptdb("export", "db", "test_4", "o.safetensors",
                        "--safetensors", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("as safetensors", p.stderr)
        for leaf in ("'meta/name' (str, not an array)",
                     "'meta/flag' (bool, not an array)",
                     "'opt_state/1/0' (float, not an array)",
                     "'opt_state/2' (None)",
                     "'meta/empty_list' (an empty list)"):
            self.assertIn(leaf, p.stderr)
        self.assertFalse(os.path.exists(self.path("o.safetensors")))
        np.savez(self.path("dot.npz"), **{"a.b": np.ones(1)})
        self.ckptdb("import", "db", "70", "dot.npz")
        p = self.ckptdb("export", "db", "70", "d.safetensors",
                        "--safetensors", check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("'a.b' (the key contains '.')", p.stderr)
        np.savez(self.path("c.npz"), c=np.ones(1, np.complex128))
        self.ckptdb("import", "db", "71", "c.npz")
        p = self.ckptdb("export", "db", "71", "c.safetensors",
                        "--safetensors", check=False)
        self.assertIn("'c' (complex128: no safetensors dtype)", p.stderr)
        self.assertFalse(os.path.exists(self.path("c.safetensors")))


def _mp_ext_hook(code, data):
    """An independent decode of Flax's ext types (flax-legacy.md 1.10)."""
    import msgpack
    if code in (1, 3):
        shape, dtype, buf = msgpack.unpackb(data, raw=True)
        arr = np.frombuffer(buf, dtype=np.dtype(dtype.decode()))
        return arr.reshape(shape)
    if code == 2:
        re_, im = msgpack.unpackb(data)
        return np.array(complex(re_, im))
    if code == 4:
        return tuple(msgpack.unpackb(data, ext_hook=_mp_ext_hook,
                                     strict_map_key=False))
    raise ValueError(f"ext type {code}")


def mp_decode(path):
    import msgpack
    with open(path, "rb") as f:
        return msgpack.unpackb(f.read(), ext_hook=_mp_ext_hook, raw=False,
                               strict_map_key=False)


def _unchunk(d):
    if isinstance(d, dict) and "__msgpack_chunked_array__" in d:
        shape = [d["shape"][str(i)] for i in range(len(d["shape"]))]
        chunks = [d["chunks"][str(i)] for i in range(len(d["chunks"]))]
        return np.concatenate(chunks).reshape(shape)
    return d


def _escape(k):
    k = str(k).replace("%", "%25").replace("/", "%2F").replace("\0", "%00")
    return {"": "%", ".": "%2E", "..": "%2E%2E"}.get(k, k)


def mp_flatten(obj, prefix=""):
    """path -> value as `ckptdb export --npz` writes the leaves."""
    obj = _unchunk(obj)
    out = {}
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        if obj is None:
            return out
        if isinstance(obj, bytes):  # as the Python package stores bytes
            return {prefix + "__ckptdb_bytes__": np.frombuffer(obj, np.uint8)}
        if isinstance(obj, bool):
            v = np.array(obj)
        elif isinstance(obj, int):
            v = np.array(obj, np.int64)
        elif isinstance(obj, float):
            v = np.array(obj, np.float64)
        elif isinstance(obj, str):
            v = np.array(obj)
        else:
            v = np.asarray(obj)
        out[prefix[:-1] if prefix else ""] = v
        return out
    for k, v in items:
        out.update(mp_flatten(v, prefix + _escape(k) + "/"))
    return out


def real_msgpack():
    """Every file under REAL that Debian's msgpack decodes to a map."""
    out = []
    for root, _, files in os.walk(REAL):
        for f in files:
            p = os.path.join(root, f)
            if os.path.getsize(p) > 64 << 20 or f.endswith(".safetensors"):
                continue
            try:
                if isinstance(mp_decode(p), dict):
                    out.append(p)
            except Exception:  # pylint: disable=broad-except
                continue
    return sorted(out)


def mp_encode(obj):
    import msgpack

    def default(x):
        if isinstance(x, np.ndarray):
            return msgpack.ExtType(1, msgpack.packb(
                (x.shape, x.dtype.name, x.tobytes("C")), use_bin_type=True))
        if isinstance(x, np.generic):
            return msgpack.ExtType(3, msgpack.packb(
                ((), x.dtype.name, x.tobytes()), use_bin_type=True))
        if isinstance(x, complex):
            return msgpack.ExtType(2, msgpack.packb((x.real, x.imag)))
        raise TypeError(type(x))
    return msgpack.packb(obj, default=default, strict_types=True)


class FlaxMsgpackTest(WorkDir):
    """Legacy Flax msgpack import: real files, --lists, --all, errors."""

    def steps(self, db="db"):
        return self.ckptdb("ls", db, "--json").stdout

    def write(self, name, b):
        with open(self.path(name), "wb") as f:
            f.write(b)
        return self.path(name)

    def check_against(self, db, step, path):
        want = mp_flatten(mp_decode(path))
        out = f"e{step}.npz"
        self.ckptdb("export", db, str(step), out, "--npz")
        with np.load(self.path(out)) as z:
            self.assertEqual(sorted(z.files), sorted(want), path)
            for k, v in want.items():
                self.assertTrue(same(z[k], native(np.asarray(v))),
                                f"{path}: {k}: {z[k]!r} != {v!r}")
        return len(want)

    def test_every_real_file_imports(self):
        files = real_msgpack()
        self.assertGreaterEqual(len(files), 16, files)
        leaves = 0
        for i, f in enumerate(files):
            p = self.ckptdb("import", "mp", str(i), f, "--create", "--json")
            self.assertEqual(json.loads(p.stdout)["format"], "msgpack", f)
            leaves += self.check_against("mp", i, f)
        self.assertGreater(leaves, 100)
        self.ckptdb("verify", "mp")
        # --format msgpack forces it.
        self.ckptdb("import", "mp", "100", files[0], "--format", "msgpack")

    def test_generated_cases_and_lists(self):
        tree = {
            "params": {"w": np.arange(6, dtype=np.float32).reshape(2, 3),
                       "i8": np.array([-128, 0, 127], np.int8),
                       "u8": np.array([0, 255], np.uint8),
                       "mask": np.array([True, False])},
            "lr": np.float32(0.5), "c": 1 + 2j, "step": 7, "name": "run",
            "none": None, "f": 0.25, "flag": True,
            "opt": {"0": {"count": np.int32(3)}, "1": {}},
            "raw": b"\x00bytes",
        }
        src = self.write("g.msgpack", mp_encode(tree))
        self.ckptdb("import", "db", "60", src)
        self.check_against("db", 60, src)
        shown = self.ckptdb("tree", "db", "60", "--json").stdout
        self.assertNotIn('"list"', shown)
        self.ckptdb("import", "db", "61", src, "--lists")
        shown = json.loads(self.ckptdb("tree", "db", "61", "--json").stdout)
        kinds = json.dumps(shown)
        self.assertIn('"list"', kinds)
        p = self.ckptdb("import", "db", "62", src, "--flat", check=False)
        self.assertNotEqual(p.returncode, 0)

    def test_all_imports_a_flax_folder(self):
        d = self.path("flax")
        os.makedirs(os.path.join(d, "checkpoint_3_gda"))
        for s in (1, 2, 10, 3):
            with open(os.path.join(d, f"checkpoint_{s}"), "wb") as f:
                f.write(mp_encode({"w": np.full(3, s, np.int32), "s": s}))
        with open(os.path.join(d, "checkpoint_tmp"), "wb") as f:
            f.write(b"\x85partial")
        with open(os.path.join(d, "other_5"), "wb") as f:
            f.write(mp_encode({"x": 1}))
        p = self.ckptdb("import", "new", "--all", d, "--create", "--json")
        got = json.loads(p.stdout)["steps"]
        self.assertEqual([s["step"] for s in got], [1, 2, 3, 10])
        self.assertEqual([s["name"] for s in got],
                         ["checkpoint_1", "checkpoint_2", "checkpoint_3",
                          "checkpoint_10"])
        listed = self.steps("new")
        self.assertIn("checkpoint_10", listed)
        for s in (1, 2, 3, 10):
            self.check_against("new", s, os.path.join(d, f"checkpoint_{s}"))
        # --prefix picks other files.
        p = self.ckptdb("import", "new", "--all", d, "--prefix", "other_")
        self.assertIn("step 5", p.stdout)
        # A step the database holds fails before anything is saved.
        before = self.steps("new")
        p = self.ckptdb("import", "new", "--all", d, check=False)
        self.assertEqual(p.returncode, 8, p.stderr)
        self.assertEqual(self.steps("new"), before)

    def test_corrupt_files_change_nothing(self):
        src = self.write("g.msgpack", mp_encode(
            {"a": {"w": np.arange(40, dtype=np.float64)}, "b": 3}))
        with open(src, "rb") as f:
            good = f.read()
        before = self.steps()
        cases = {
            "trunc.msgpack": good[:len(good) // 2],
            "lying.msgpack": good[:2] + b"\xdf\xff\xff\xff\xff" + good[7:],
            "dtype.msgpack": good.replace(b"float64", b"float99"),
        }
        for name, b in cases.items():
            path = self.write(name, b)
            p = self.ckptdb("import", "db", "70", path, "--format", "msgpack",
                            check=False)
            self.assertNotEqual(p.returncode, 0, name)
            self.assertRegex(p.stderr, re.escape(path) + r": byte \d+", name)
            self.assertEqual(self.steps(), before, name)
        self.assertIn("(at 'a/w'): unsupported dtype 'float99'", p.stderr)
        # In --all, one bad file saves nothing.
        d = self.path("flax")
        os.makedirs(d)
        self.write("flax/checkpoint_901", good)
        self.write("flax/checkpoint_902", good[:-3])
        p = self.ckptdb("import", "db", "--all", d, check=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("checkpoint_902: byte", p.stderr)
        self.assertEqual(self.steps(), before)


class Holder:
    """A second process holding a database open for writing."""

    def __init__(self, db, step=None):
        args = [HELPER, "hold", db] + ([str(step)] if step is not None
                                       else [])
        self.p = subprocess.Popen(args, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"holder did not start: {line!r}")

    def release(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)
        self.p.stdout.close()
        assert self.p.returncode == 0


class BusyTest(WorkDir):
    """Read commands work while another process writes the database; write
    commands fail with exit code 7 until it lets go."""

    def test_read_while_held_write_fails_busy(self):
        self.ckptdb("export", "db", "4", "out")
        holder = Holder(self.path("db"), step=100)
        try:
            ls = self.ckptdb("ls", "db").stdout
            self.assertIn("test_100", ls)  # the holder's own new step
            for args in (["tree", "db", "100"], ["show", "db", "100", "step"],
                         ["dump", "db", "latest"], ["stats", "db"],
                         ["verify", "db"], ["diff", "db", "4", "100"],
                         ["export", "db", "100", "out100"]):
                self.ckptdb(*args)
            for args in (["rm", "db", "0"], ["gc", "db"],
                         ["import", "db", "200", "out"], ["demo", "db"]):
                p = self.ckptdb(*args, check=False)
                self.assertEqual(p.returncode, 7, (args, p.stderr))
                self.assertIn("busy: another process has it open for writing",
                              p.stderr)
        finally:
            holder.release()
        self.ckptdb("rm", "db", "0")
        self.ckptdb("import", "db", "200", "out")


class OpenFileLimitTest(WorkDir):
    """An open keeps every table file open: the CLI takes the hard limit on
    open files, and a hard limit too low for the database is an error that
    names the limit and how to raise it."""

    def limited(self, soft, hard):
        def preexec():
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        return subprocess.run([CKPTDB, "ls", "db"], cwd=self.dir,
                              capture_output=True, text=True, timeout=60,
                              preexec_fn=preexec)

    def test_low_limits(self):
        tables = len([f for f in os.listdir(self.path("db"))
                      if f.endswith(".sst")])
        self.assertGreater(tables, 8)
        p = self.limited(8, 8)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("Too many open files (this process may open 8 files "
                      "(ulimit -n)", p.stderr)
        self.assertIn("raise the limit above the number of .sst files",
                      p.stderr)
        # A low soft limit under a higher hard one: the CLI raises it.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        if hard != resource.RLIM_INFINITY and hard < 64:
            self.skipTest(f"this process may open only {hard} files")
        p = self.limited(8, min(4096, hard) if hard != resource.RLIM_INFINITY
                         else 4096)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("test_4", p.stdout)


class DamagedTableTest(WorkDir):
    """A table file RocksDB cannot open: read commands go around it and
    verify names it and the step it holds; rm (a writer opening around
    such damage) deletes that step, and the database is whole again."""

    def test_rm_of_the_step_a_damaged_slot_table_holds(self):
        db = self.path("db")
        for name in sorted(f for f in os.listdir(db) if f.endswith(".sst")):
            shutil.rmtree(self.path("d"), ignore_errors=True)
            shutil.copytree(db, self.path("d"))
            with open(self.path("d", name), "r+b") as f:  # footer magic
                f.seek(-1, os.SEEK_END)
                last = f.read(1)
                f.seek(-1, os.SEEK_END)
                f.write(bytes([last[0] ^ 0x5A]))
            p = self.ckptdb("verify", "d", "--json", check=False)
            if p.returncode != 6 or "family 'slot-" not in p.stdout:
                continue  # a chunk table, or one RocksDB loads at open
            report = json.loads(p.stdout)
            steps = {q["step"] for q in report["problems"] if q["step"] >= 0}
            self.assertEqual(len(steps), 1, p.stdout)
            (step,) = steps
            self.assertIn(f"table file {name}", p.stdout)
            self.assertIn(f"It holds the tree of step {step}", p.stdout)
            others = [s for s in report["steps"] if s != step]
            for s in others:  # the other steps read as ever
                self.ckptdb("export", "d", str(s), f"out{s}")
            # Other writers refuse it; gc collects garbage only (retention
            # would open managers, which refuse it too).
            p = self.ckptdb("import", "d", "99", f"out{others[0]}",
                            check=False)
            self.assertEqual(p.returncode, 6, p.stderr)
            self.assertIn("`ckptdb rm` of them, then `ckptdb gc`, removes it",
                          p.stderr)
            p = self.ckptdb("gc", "d")
            self.assertIn("retention: not applied: the database has table "
                          f"files RocksDB cannot open ({name})", p.stdout)
            # Deleting the step empties its slot: the table goes with it.
            p = self.ckptdb("rm", "d", str(step))
            self.assertNotIn("damaged table files remain", p.stdout)
            self.assertIn("ok: ", self.ckptdb("verify", "d").stdout)
            ls = json.loads(self.ckptdb("ls", "d", "--json").stdout)
            self.assertEqual([e["step"] for e in ls["steps"]], others)
            self.ckptdb("gc", "d")  # a writer opens it again
            return
        self.fail("no slot table of the fixture could be read around")


class ConcurrentCreateTest(WorkDir):
    """Processes racing to create one database: each either creates it or
    gets exit code 7 (busy), never 'not a database' or 'damaged'."""

    def test_import_create_race(self):
        np.save(self.path("one.npy"), np.ones(3))
        for attempt in range(3):
            db = f"race{attempt}"
            procs = [subprocess.Popen(
                [CKPTDB, "import", "--create", db, str(i), "one.npy"],
                cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True) for i in range(6)]
            codes = []
            for p in procs:
                _, err = p.communicate(timeout=60)
                codes.append(p.returncode)
                self.assertIn(p.returncode, (0, 7), err)
            self.assertIn(0, codes)
            ls = self.ckptdb("ls", db, "--json").stdout
            saved = [s["step"] for s in json.loads(ls)["steps"]]
            self.assertEqual(saved, [i for i, c in enumerate(codes) if c == 0])


class DemoTest(WorkDir):
    """`demo DB` replaces only a ckptdb database nobody holds."""

    def test_replaces_only_its_own_kind(self):
        os.mkdir(self.path("folder"))
        with open(self.path("folder", "keep.txt"), "w") as f:
            f.write("precious")
        with open(self.path("afile"), "w") as f:
            f.write("precious")
        for target in ("folder", "afile"):
            p = self.ckptdb("demo", target, check=False)
            self.assertEqual(p.returncode, 3, p.stderr)
            self.assertIn(f"demo will not replace '{target}'", p.stderr)
        with open(self.path("folder", "keep.txt")) as f:
            self.assertEqual(f.read(), "precious")
        with open(self.path("afile")) as f:
            self.assertEqual(f.read(), "precious")
        self.ckptdb("demo", "new")
        self.ckptdb("demo", "new")  # its own database: replaced
        self.ckptdb("demo", "db")   # any unheld ckptdb database
        self.assertIn("step_5", self.ckptdb("ls", "db").stdout)


class ConcurrentWriterTest(WorkDir):
    """Read commands while another process saves and deletes steps as fast
    as it can: every command succeeds, on a consistent view."""

    def test_reads_during_saves(self):
        # About 3 s of saves (and deletions), 20 ms apart. The writer waits
        # before its last save until the first round of reads is done, so
        # that round runs while it is still saving, however slow the
        # machine.
        writer = subprocess.Popen([HELPER, "write-loop", self.path("db"),
                                   "100", "60", "20"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            self.assertEqual(writer.stdout.readline().strip(), "ready")
            rounds = concurrent = 0
            while writer.poll() is None or rounds < 3:
                concurrent += writer.poll() is None
                for args in (["ls", "db", "--json"], ["tree", "db", "latest"],
                             ["show", "db", "latest", "params/head"],
                             ["verify", "db"], ["stats", "db"],
                             ["diff", "db", "0", "latest"],
                             ["dump", "db", "latest"]):
                    p = self.ckptdb(*args, check=False)
                    self.assertEqual(p.returncode, 0, (args, p.stderr))
                out = f"out{rounds}"
                self.ckptdb("export", "db", "latest", out)
                rounds += 1
                if rounds == 1:
                    writer.stdin.close()  # let it save its last step
        finally:
            if not writer.stdin.closed:
                writer.stdin.close()
            writer.wait(timeout=120)
            writer.stdout.close()
        self.assertEqual(writer.returncode, 0)
        self.assertGreaterEqual(concurrent, 1)
        ls = json.loads(self.ckptdb("ls", "db", "--json").stdout)
        self.assertEqual([s["step"] for s in ls["steps"]], [0, 157, 158, 159])
        self.ckptdb("verify", "db")


class JsonTest(WorkDir):
    """Every --json output is valid JSON; dump --full holds every value."""

    def test_every_command(self):
        for args in (["ls", "db"], ["tree", "db"], ["show", "db", "4", "meta"],
                     ["dump", "db"], ["stats", "db"], ["verify", "db"],
                     ["diff", "db", "0", "4"], ["export", "db", "4", "out"],
                     ["import", "db", "9", "out"], ["rm", "db", "9"],
                     ["gc", "db"]):
            out = self.ckptdb(*args, "--json").stdout
            self.assertIsInstance(json.loads(out), dict, args)
        dump = json.loads(self.ckptdb("dump", "db").stdout)
        self.assertEqual([s["step"] for s in dump["steps"]], [0, 3, 4])

    def test_dump_full_values(self):
        dump = json.loads(self.ckptdb("dump", "db", "2", "--full").stdout)
        step = dump["steps"][0]
        self.assertEqual((step["step"], step["name"]), (2, "test_2"))
        self.assertEqual(step["metrics"], {"loss": 1 / 3, "accuracy": 0.7})
        leaves = {}

        def walk(node):
            if node["kind"] == "dict":
                for e in node["entries"]:
                    walk(e["value"])
            elif node["kind"] in ("list", "tuple"):
                for c in node["items"]:
                    walk(c)
            elif node["kind"] == "array":
                leaves[node["path"]] = node

        walk(step["trees"][0]["tree"])
        want = fixture_step(2)
        for path, node in leaves.items():
            v = want[path.replace("a/b", "a%2Fb") + ".npy"]
            if node["dtype"] == "bfloat16":
                v = v.astype(np.float32)
            values = node["values"]
            if v.dtype.kind == "c":
                got = np.array([complex(*x) for x in values], v.dtype)
            else:
                got = np.array(values, dtype=object).reshape(v.shape)
                got = np.where(got == "nan", np.nan, got)
                got = np.where(got == "inf", np.inf, got)
                got = np.where(got == "-inf", -np.inf, got).astype(v.dtype)
            self.assertTrue(np.array_equal(got, v, equal_nan=v.dtype.kind
                                           in "fc"), path)
            self.assertEqual(node["shape"], list(v.shape), path)


class ProgressTest(WorkDir):
    """Progress bars (bytes, rate) appear on stderr only on a terminal."""

    def on_terminal(self, *args):
        master, slave = pty.openpty()
        p = subprocess.Popen([CKPTDB] + list(args), cwd=self.dir,
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        data = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
        p.wait(timeout=60)
        os.close(master)
        self.assertEqual(p.returncode, 0, data)
        return data.decode()

    def test_bars_on_a_terminal_only(self):
        bar = re.compile(r"\[[#-]{24}\] +100%  [\d.]+ KiB / [\d.]+ KiB  "
                         r"[\d.]+ [KMG]?i?B/s")
        for args, label in ((["export", "db", "4", "out"], "export"),
                            (["verify", "db"], "verify"),
                            (["import", "db", "50", "out"], "import: reading")):
            err = self.on_terminal(*args)
            self.assertIn(label + " [", err)
            self.assertRegex(err, bar)
        err = self.on_terminal("gc", "db")
        self.assertRegex(err, r"gc: disk freed [\d.]+ (B|KiB|MiB)  [\d.]+ "
                              r"[KMG]?i?B/s")
        self.assertEqual(self.on_terminal("verify", "db", "--no-progress"),
                         "")
        # Not a terminal: nothing on stderr.
        p = self.ckptdb("export", "db", "4", "out2")
        self.assertEqual(p.stderr, "")


def format_md_section():
    """docs/format.md's last section: the ldb and flatc commands."""
    with open(os.path.join(SRC, "docs", "format.md"), encoding="utf-8") as f:
        text = f.read()
    return text[text.index("## Reading a step with the ecosystem's tools"):]


def code_blocks(markdown):
    """(language, text) of each fenced code block."""
    blocks, lang, lines = [], None, []
    for line in markdown.split("\n"):
        if lang is None and line.startswith("```"):
            lang, lines = line[3:].strip(), []
        elif lang is not None and line == "```":
            blocks.append((lang, "".join(x + "\n" for x in lines)))
            lang = None
        elif lang is not None:
            lines.append(line)
    return blocks


class InteropTest(WorkDir):
    """RocksDB's ldb and FlatBuffers' flatc read a ckptdb database: the
    commands of docs/format.md, verbatim, then while another process
    writes the database."""

    def test_format_md_commands(self):
        os.symlink(os.path.join(os.path.abspath(SRC), "schema"),
                   self.path("schema"))
        env = dict(os.environ)
        env["PATH"] = os.path.dirname(os.path.abspath(CKPTDB)) + ":" + \
            env["PATH"]
        blocks = code_blocks(format_md_section())
        script = "set -euo pipefail\n" + "".join(
            text for lang, text in blocks if lang == "")
        p = subprocess.run(["bash", "-c", script], cwd=self.dir, env=env,
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        out = p.stdout
        cf = re.search(r"step 4 is in column family (\S+)", out).group(1)
        ls = json.loads(self.ckptdb("ls", "demo-db", "--json").stdout)
        self.assertEqual([s["column_family"] for s in ls["steps"]
                          if s["step"] == 4], [cf])
        families = re.search(r"\{(.*)\}", out).group(1).split(", ")
        self.assertEqual(families[:3], ["default", "chunks", "chunk_index"])
        for s in ls["steps"]:
            self.assertIn(s["column_family"], families)
        self.assertRegex(out, r"(?m)^0x63 : 0x[0-9A-F]+$")
        self.assertRegex(out, r"(?m)^0x6E000000000012 : 0x[0-9A-F]+$")
        with open(self.path("out", "node.json")) as f:
            node = json.load(f)
        self.assertEqual(node, {"format_version": 1,
                                "node": {"index": 1, "key_kind": "Str",
                                         "key_str": "step", "kind": "Int",
                                         "scalar": 4}})
        # The JSON block shown in the document is what flatc printed.
        shown = [text for lang, text in blocks if lang == "json"]
        self.assertEqual(len(shown), 1)
        self.assertEqual(json.loads(shown[0]), node)
        with open(self.path("out", "chunklist.json")) as f:
            chunks = json.load(f)
        self.assertEqual(chunks["format_version"], 1)
        self.assertEqual(len(chunks["hashes"]), 3)
        with open(self.path("out", "commit.json")) as f:
            commit = json.load(f)
        self.assertEqual((commit["step"], commit["name"],
                          commit["column_family"]),
                         (4, "step_4", cf))
        self.assertEqual(commit["metrics"][1]["key_str"], "loss")

    def test_ldb_while_another_process_writes(self):
        holder = Holder(self.path("db"), step=100)
        try:
            ls = json.loads(self.ckptdb("ls", "db", "--json").stdout)
            cf = [s for s in ls["steps"] if s["step"] == 100][0][
                "column_family"]
            p = subprocess.run(["ldb", "--db=db", "list_column_families"],
                               cwd=self.dir, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(cf, p.stdout)
            p = subprocess.run(["ldb", "--db=db", f"--column_family={cf}",
                                "scan", "--hex"], cwd=self.dir,
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertRegex(p.stdout, r"(?m)^0x6E000000000000 : 0x")
        finally:
            holder.release()


if __name__ == "__main__":
    unittest.main(verbosity=2)
