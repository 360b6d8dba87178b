#!/usr/bin/python3
"""Writes Orbax checkpoints that no real fixture covers, following the
specifications (TensorStore's OCDBT format, zarr v2 and v3, Orbax's
_METADATA), and reads OCDBT databases back, for the importer's tests:

  /usr/bin/python3 orbax_gen.py OUT_DIR

Our own encoder and decoder, written from the specifications, independent
of the C++ reader. Needs Debian's python3-numpy, python3-msgpack and
python3-zstandard. Each case writes its expected arrays as OUT/<case>.npz
(paths joined with '/') next to the checkpoint folder.
"""

import gzip
import json
import os
import struct
import sys
import zlib

import msgpack
import numpy as np
import zstandard

# ---- crc32c, varints ---------------------------------------------------------

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def varint(self):
        shift, out = 0, 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            out |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return out

    def byte(self):
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n):
        self.pos += n
        return self.data[self.pos - n:self.pos]

    def le64(self):
        return struct.unpack("<Q", self.take(8))[0]


# ---- OCDBT encoding ----------------------------------------------------------

MANIFEST_MAGIC = 0x0CDB3A2A
BTREE_MAGIC = 0x0CDB20DE
MISSING = (1 << 64) - 1


def envelope(magic, body, compress):
    inner = varint(0) + varint(1 if compress else 0)
    inner += zstandard.ZstdCompressor().compress(body) if compress else body
    length = 4 + 8 + len(inner) + 4
    head = struct.pack(">I", magic) + struct.pack("<Q", length)
    data = head + inner
    return data + struct.pack("<I", crc32c(data))


def data_file_table(files):
    """files: list of (base_path, relative_path) byte strings."""
    paths = [b + r for b, r in files]
    out = varint(len(files))
    prefixes = []
    for i in range(1, len(paths)):
        a, b = paths[i - 1], paths[i]
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        # The common prefix may not reach past a base path unless the base
        # paths are equal (the format's rule).
        if files[i][0] != files[i - 1][0]:
            n = min(n, len(files[i][0]), len(files[i - 1][0]))
        prefixes.append(n)
    for n in prefixes:
        out += varint(n)
    pre = [0] + prefixes
    for i, p in enumerate(paths):
        out += varint(len(p) - pre[i])
    for b, _ in files:
        out += varint(len(b))
    for i, p in enumerate(paths):
        out += p[pre[i]:]
    return out


def keys_block(keys, subtree=None):
    out = b""
    for i in range(1, len(keys)):
        a, b = keys[i - 1], keys[i]
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        out += varint(n)
    pre = [0]
    for i in range(1, len(keys)):
        a, b = keys[i - 1], keys[i]
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        pre.append(n)
    for i, k in enumerate(keys):
        out += varint(len(k) - pre[i])
    if subtree is not None:
        for s in subtree:
            out += varint(s)
    for i, k in enumerate(keys):
        out += k[pre[i]:]
    return out


def leaf_node(entries, files, compress=False):
    """entries: sorted (key, value) where value is bytes (inline) or
    (file_index, offset, length) (out of line)."""
    body = bytes([0]) + data_file_table(files) + varint(len(entries))
    body += keys_block([k for k, _ in entries])
    for _, v in entries:
        body += varint(len(v) if isinstance(v, bytes) else v[2])
    for _, v in entries:
        body += bytes([0 if isinstance(v, bytes) else 1])
    for _, v in entries:
        if not isinstance(v, bytes):
            body += varint(v[0])
    for _, v in entries:
        if not isinstance(v, bytes):
            body += varint(v[1])
    for _, v in entries:
        if isinstance(v, bytes):
            body += v
    return envelope(BTREE_MAGIC, body, compress)


def interior_node(children, files, height=1, compress=False):
    """children: (key, subtree_prefix_len, file_index, offset, length,
    num_keys)."""
    body = bytes([height]) + data_file_table(files) + varint(len(children))
    body += keys_block([c[0] for c in children], [c[1] for c in children])
    for c in children:
        body += varint(c[2])
    for c in children:
        body += varint(c[3])
    for c in children:
        body += varint(c[4])
    for c in children:  # num_keys, num_tree_bytes, num_indirect_value_bytes
        body += varint(c[5])
    for c in children:
        body += varint(c[4])
    for c in children:
        body += varint(0)
    return envelope(BTREE_MAGIC, body, compress)


def config_only_manifest():
    """manifest.ocdbt of the "numbered" kind: the configuration alone."""
    body = bytes(16) + varint(1) + varint(100) + varint(100_000_000)
    body += bytes([4]) + varint(1) + struct.pack("<i", 0)
    return envelope(MANIFEST_MAGIC, body, True)


def manifest(root, root_height, files, num_keys, compress=True,
             generation=1, commit_ns=1_700_000_000_000_000_000):
    """root: (file_index, offset, length) or None (empty database)."""
    body = bytes(16) + varint(0) + varint(100) + varint(100_000_000)
    body += bytes([4]) + varint(1) + struct.pack("<i", 0)
    body += data_file_table(files)
    body += varint(1) + varint(generation) + bytes([root_height])
    f, off, ln = root if root else (0, MISSING, MISSING)
    body += varint(f) + varint(off) + varint(ln)
    body += varint(num_keys) + varint(ln if root else 0) + varint(0)
    body += struct.pack("<Q", commit_ns)
    body += varint(0)  # no version-tree nodes
    return envelope(MANIFEST_MAGIC, body, compress)


# ---- OCDBT decoding (for checking the real fixtures independently) -----------

def open_envelope(data, magic):
    assert struct.unpack(">I", data[:4])[0] == magic, "magic"
    assert struct.unpack("<Q", data[4:12])[0] == len(data), "length"
    assert struct.unpack("<I", data[-4:])[0] == crc32c(data[:-4]), "crc32c"
    r = Reader(data[12:-4])
    assert r.varint() == 0
    comp = r.varint()
    body = data[12 + r.pos:-4]
    if comp == 1:
        body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
    return Reader(body)


def read_table(r, transitive):
    n = r.varint()
    pre = [0] + [r.varint() for _ in range(n - 1)]
    suf = [r.varint() for _ in range(n)]
    base = [r.varint() for _ in range(n)]
    out, prev = [], b""
    for i in range(n):
        p = prev[:pre[i]] + r.take(suf[i])
        out.append((transitive + p, transitive + p[:base[i]]))
        prev = p
    return out


def read_keys(r, n, interior):
    pre = [0] + [r.varint() for _ in range(n - 1)]
    suf = [r.varint() for _ in range(n)]
    sub = [r.varint() for _ in range(n)] if interior else None
    keys, prev = [], b""
    for i in range(n):
        k = prev[:pre[i]] + r.take(suf[i])
        keys.append(k)
        prev = k
    return keys, sub


def ocdbt_read(root):
    """Every key -> value of the latest version of the database at root."""
    rootb = root.encode()

    def read(path, off, ln):
        with open(os.path.join(rootb, path), "rb") as f:
            f.seek(off)
            d = f.read(ln)
            assert len(d) == ln
            return d

    with open(os.path.join(root, "manifest.ocdbt"), "rb") as f:
        r = open_envelope(f.read(), MANIFEST_MAGIC)
    r.take(16)
    kind = r.varint()
    assert kind == 0
    r.varint(), r.varint(), r.byte()
    if r.varint() == 1:
        r.take(4)
    table = read_table(r, b"")
    n = r.varint()
    gens = [r.varint() for _ in range(n)]
    heights = [r.byte() for _ in range(n)]
    ids = [r.varint() for _ in range(n)]
    offs = [r.varint() for _ in range(n)]
    lens = [r.varint() for _ in range(n)]
    del gens
    out = {}

    def walk(path, trans, off, ln, height, prefix):
        r = open_envelope(read(path, off, ln), BTREE_MAGIC)
        h = r.byte()
        assert h == height
        t = read_table(r, trans)
        n = r.varint()
        keys, sub = read_keys(r, n, h > 0)
        if h > 0:
            cid = [r.varint() for _ in range(n)]
            coff = [r.varint() for _ in range(n)]
            clen = [r.varint() for _ in range(n)]
            for i in range(n):
                p, tr = t[cid[i]]
                walk(p, tr, coff[i], clen[i], h - 1, prefix + keys[i][:sub[i]])
            return
        lens = [r.varint() for _ in range(n)]
        kinds = [r.byte() for _ in range(n)]
        ind = [i for i in range(n) if kinds[i] == 1]
        vid = [r.varint() for _ in ind]
        voff = [r.varint() for _ in ind]
        for k, i in enumerate(ind):
            out[prefix + keys[i]] = read(t[vid[k]][0], voff[k], lens[i])
        for i in range(n):
            if kinds[i] == 0:
                out[prefix + keys[i]] = r.take(lens[i])

    if n and offs[-1] != MISSING:
        p, tr = table[ids[-1]]
        walk(p, tr, offs[-1], lens[-1], heights[-1], b"")
    return out


# ---- zarr encoding ------------------------------------------------------------

def _compress(data, cid):
    if cid is None:
        return data
    if cid == "gzip":
        return gzip.compress(data, mtime=0)
    if cid == "zlib":
        return zlib.compress(data)
    if cid == "zstd":
        return zstandard.ZstdCompressor().compress(data)
    raise ValueError(cid)


def chunks_of(a, chunks):
    """(index tuple, full-size padded chunk array) over the chunk grid."""
    grid = [-(-s // c) for s, c in zip(a.shape, chunks)]
    for idx in np.ndindex(*grid) if grid else [()]:
        sl = tuple(slice(i * c, (i + 1) * c) for i, c in zip(idx, chunks))
        part = a[sl]
        full = np.zeros(chunks, a.dtype)
        full[tuple(slice(0, s) for s in part.shape)] = part
        yield idx, full


def zarr_v2(a, chunks, compressor, order="C", sep=".", skip=()):
    """{key: bytes} of a zarr v2 array (skip: chunk indices left out)."""
    comp = None if compressor is None else {"id": compressor}
    if compressor in ("gzip", "zlib"):
        comp["level"] = 1
    meta = {"chunks": list(chunks), "compressor": comp, "dtype": a.dtype.str,
            "fill_value": 0, "filters": None, "order": order,
            "shape": list(a.shape), "zarr_format": 2,
            "dimension_separator": sep}
    out = {".zarray": json.dumps(meta).encode()}
    for idx, full in chunks_of(a, chunks):
        if idx in skip:
            continue
        raw = full.tobytes(order=order)
        key = sep.join(str(i) for i in idx) if idx else "0"
        out[key] = _compress(raw, compressor)
    return out


def zarr_v3_sharded(a, shard, inner, inner_codec="gzip", skip_inner=(),
                    fill=0):
    """{key: bytes} of a zarr v3 array with sharding_indexed, inner chunks
    'bytes' + inner_codec, index 'bytes' + 'crc32c' at the end."""
    name = {np.dtype("float32"): "float32", np.dtype("int32"): "int32",
            np.dtype("float64"): "float64", np.dtype("int64"): "int64",
            np.dtype("uint8"): "uint8"}[a.dtype]
    inner_codecs = [{"name": "bytes", "configuration": {"endian": "little"}}]
    if inner_codec == "gzip":
        inner_codecs.append({"name": "gzip", "configuration": {"level": 1}})
    elif inner_codec == "zstd":
        inner_codecs.append({"name": "zstd", "configuration": {"level": 1}})
    meta = {
        "zarr_format": 3, "node_type": "array", "shape": list(a.shape),
        "data_type": name,
        "chunk_grid": {"name": "regular",
                       "configuration": {"chunk_shape": list(shard)}},
        "chunk_key_encoding": {"name": "default",
                               "configuration": {"separator": "/"}},
        "fill_value": fill,
        "codecs": [{"name": "sharding_indexed", "configuration": {
            "chunk_shape": list(inner), "codecs": inner_codecs,
            "index_codecs": [
                {"name": "bytes", "configuration": {"endian": "little"}},
                {"name": "crc32c"}],
            "index_location": "end"}}]}
    out = {"zarr.json": json.dumps(meta).encode()}
    padded_fill = np.full(shard, fill, a.dtype)
    for sidx, sh in chunks_of(a, shard):
        # Outside the array the shard holds the fill value.
        part = a[tuple(slice(i * c, (i + 1) * c) for i, c in zip(sidx, shard))]
        sh = padded_fill.copy()
        sh[tuple(slice(0, s) for s in part.shape)] = part
        body, index = b"", []
        for iidx, chunk in chunks_of(sh, inner):
            if (sidx, iidx) in skip_inner:
                index.append((MISSING, MISSING))
                continue
            enc = _compress(chunk.tobytes(), inner_codec)
            index.append((len(body), len(enc)))
            body += enc
        ib = b"".join(struct.pack("<QQ", o, n) for o, n in index)
        ib += struct.pack("<I", crc32c(ib))
        key = "c/" + "/".join(str(i) for i in sidx) if sidx else "c"
        out[key] = body + ib
    return out


# ---- Orbax items --------------------------------------------------------------

def tree_metadata(leaves, use_ocdbt, use_zarr3):
    """leaves: [(path tuple of (key, key_type), value_type)]."""
    tm = {}
    for path, vtype in leaves:
        tm[str(tuple(k for k, _ in path))] = {
            "key_metadata": [{"key": k, "key_type": t} for k, t in path],
            "value_metadata": {"value_type": vtype,
                               "skip_deserialize": False}}
    return json.dumps({"tree_metadata": tm, "use_ocdbt": use_ocdbt,
                       "use_zarr3": use_zarr3,
                       "store_array_data_equal_to_fill_value": True,
                       "custom_metadata": None}).encode()


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_files(dirname, files):
    for k, v in files.items():
        write(os.path.join(dirname, k), v)


def case_v2_folders(out):
    """Zarr v2 per-parameter folders (no OCDBT): gzip, zlib, zstd, none,
    F order, big-endian, '/' separator, a missing chunk, lists, scalars,
    strings and empty containers from _METADATA."""
    d = os.path.join(out, "v2_folders")
    rng = np.random.default_rng(1)
    arrays = {
        "params.w": (rng.standard_normal((5, 7)).astype(np.float32),
                     dict(chunks=(2, 3), compressor="gzip")),
        "params.b": (np.arange(12, dtype=">i2").reshape(4, 3),
                     dict(chunks=(3, 2), compressor="zlib", order="F")),
        "layers.0": (np.arange(6, dtype=np.float64),
                     dict(chunks=(4,), compressor="zstd")),
        "layers.1": (np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
                     dict(chunks=(1, 2, 4), compressor=None, sep="/",
                          skip=((1, 0, 0),))),
        "step": (np.array(7, np.int32), dict(chunks=(), compressor="gzip")),
        # A leaf named "d": its folder is not OCDBT's data folder.
        "d": (np.array([True, False, True]), dict(chunks=(2,),
                                                  compressor="zlib")),
    }
    expected = {}
    for name, (a, kw) in arrays.items():
        write_files(os.path.join(d, name), zarr_v2(a, **kw))
        e = a.astype(a.dtype.newbyteorder("="))
        if name == "layers.1":
            e = e.copy()
            e[1, 0:2, :] = 0  # the skipped chunk is the fill value
        if name != "step":  # a "scalar": restored as a Python int
            expected[name.replace(".", "/")] = e
    leaves = [
        ((("params", 2), ("w", 2)), "jax.Array"),
        ((("params", 2), ("b", 2)), "np.ndarray"),
        ((("layers", 2), ("0", 1)), "jax.Array"),
        ((("layers", 2), ("1", 1)), "jax.Array"),
        ((("step", 2),), "scalar"),
        ((("d", 2),), "np.ndarray"),
        ((("name", 2),), "string"),
        ((("opt", 2), ("0", 1)), "Dict"),
        ((("opt", 2), ("1", 1)), "None"),
    ]
    write(os.path.join(d, "_METADATA"), tree_metadata(leaves, False, False))
    write(os.path.join(d, "_strings.json"),
          json.dumps({"name": "run-α"}).encode())
    np.savez(os.path.join(out, "v2_folders.npz"), **expected)


def case_aggregate(out):
    """The older aggregate layout: msgpack 'checkpoint' with inline values
    and PLACEHOLDER:// strings for zarr v2 gzip folders."""
    d = os.path.join(out, "aggregate_gzip")
    a = np.arange(20, dtype=np.float32).reshape(4, 5) / 3
    write_files(os.path.join(d, "enc.kernel"),
                zarr_v2(a, chunks=(3, 5), compressor="gzip"))
    inline = np.array([1.5, -2.0], np.float64)
    doc = {"enc": {"kernel": "PLACEHOLDER://enc.kernel",
                   "bias": msgpack.ExtType(
                       1, msgpack.packb([list(inline.shape), "float64",
                                         inline.tobytes()]))},
           "count": 3}
    write(os.path.join(d, "checkpoint"), msgpack.packb(doc))
    np.savez(os.path.join(out, "aggregate_gzip.npz"),
             **{"enc/kernel": a, "enc/bias": inline})


def case_v3_sharded(out):
    """Zarr v3 arrays with sharding_indexed (inner gzip / zstd chunks, a
    crc32c-checked index, a missing inner chunk, an edge shard) in
    per-parameter folders."""
    d = os.path.join(out, "v3_sharded")
    a = np.arange(40, dtype=np.float32).reshape(10, 4) * 0.5
    b = np.arange(9, dtype=np.int64).reshape(3, 3) - 4
    write_files(os.path.join(d, "a"),
                zarr_v3_sharded(a, (6, 4), (3, 2), "gzip",
                                skip_inner=(((1, 0), (1, 1)),), fill=0))
    write_files(os.path.join(d, "m.b"), zarr_v3_sharded(b, (3, 3), (3, 3),
                                                       "zstd"))
    ea = a.copy()
    ea[9:10, 2:4] = 0  # rows 9..11, cols 2..3 of shard (1,0): rows 9 only
    leaves = [((("a", 2),), "jax.Array"), ((("m", 2), ("b", 2)), "jax.Array")]
    write(os.path.join(d, "_METADATA"), tree_metadata(leaves, False, True))
    np.savez(os.path.join(out, "v3_sharded.npz"), **{"a": ea, "m/b": b})


def ocdbt_item(d, kvs, processes=2, compress=(False, True)):
    """An OCDBT item as multi-process Orbax writes one: each process's
    values in ocdbt.process_<i>/d/, and a root database whose interior
    node (in d/) points at one leaf node per process (in that process's
    d/), every value out of line."""
    keys = sorted(kvs)
    n = -(-len(keys) // processes)  # leaf key ranges must not overlap
    groups = [keys[i * n:(i + 1) * n] for i in range(processes)]
    children = []
    for p, g in enumerate(groups):
        base = f"ocdbt.process_{p}/".encode()
        pdir = os.path.join(d, f"ocdbt.process_{p}")
        data, refs = b"", {}
        for k in g:
            refs[k] = (0, len(data), len(kvs[k]))
            data += kvs[k]
        vname = f"{p:032x}".encode()
        write(os.path.join(pdir, "d", vname.decode()), data)
        # The leaf node's table is relative to its transitive path
        # (ocdbt.process_<p>/, the base path the root's entry gave it).
        node = leaf_node([(k.encode(), refs[k]) for k in g],
                         [(b"", b"d/" + vname)], compress=compress[p % 2])
        nname = f"{p + 16:032x}".encode()
        write(os.path.join(pdir, "d", nname.decode()), node)
        write(os.path.join(pdir, "manifest.ocdbt"),
              manifest((0, 0, len(node)), 0, [(b"", b"d/" + nname)], len(g)))
        children.append((g[0].encode(), 0, p, 0, len(node), len(g),
                         base, nname))
    files = [(c[6], b"d/" + c[7]) for c in children]
    inode = interior_node([c[:6] for c in children], files)
    iname = "f" * 32
    write(os.path.join(d, "d", iname), inode)
    write(os.path.join(d, "manifest.ocdbt"),
          manifest((0, 0, len(inode)), 1, [(b"", b"d/" + iname.encode())],
                   len(keys)))


def case_multiprocess(out):
    """A two-process OCDBT item (zarr v2 zstd arrays), and a
    CheckpointManager root of two committed steps of it plus an
    unfinished one."""
    rng = np.random.default_rng(2)
    arrays = {"params.dense.kernel": rng.standard_normal((8, 3)).astype(
                  np.float32),
              "params.dense.bias": np.linspace(0, 1, 3).astype(np.float32),
              "step": np.array(11, np.int32)}
    kvs = {}
    for name, a in arrays.items():
        for k, v in zarr_v2(a, chunks=a.shape[:1] and (4,) + a.shape[1:],
                            compressor="zstd").items():
            kvs[f"{name}/{k}"] = v
    leaves = [((("params", 2), ("dense", 2), ("kernel", 2)), "jax.Array"),
              ((("params", 2), ("dense", 2), ("bias", 2)), "jax.Array"),
              ((("step", 2),), "jax.Array")]
    expected = {n.replace(".", "/"): a for n, a in arrays.items()}
    item = os.path.join(out, "multiprocess")
    ocdbt_item(item, kvs)
    write(os.path.join(item, "_METADATA"), tree_metadata(leaves, True, False))
    np.savez(os.path.join(out, "multiprocess.npz"), **expected)
    root = os.path.join(out, "manager_root")
    for step, name in ((4, "ckpt_0004"), (12, "ckpt_0012"),
                       (20, "ckpt_0020.orbax-checkpoint-tmp-1700")):
        sd = os.path.join(root, name)
        ocdbt_item(os.path.join(sd, "default"), kvs)
        write(os.path.join(sd, "default", "_METADATA"),
              tree_metadata(leaves, True, False))
        write(os.path.join(sd, "_CHECKPOINT_METADATA"), json.dumps({
            "item_handlers": {"default": "StandardCheckpointHandler"},
            "metrics": {"loss": 0.25 * step, "acc": step},
            "performance_metrics": {},
            "init_timestamp_nsecs": 1_700_000_000_000_000_000 + step,
            "commit_timestamp_nsecs": 1_700_000_000_000_000_100 + step,
            "custom_metadata": {"run": "gen"}}).encode())
    os.makedirs(os.path.join(root, "not_a_step"), exist_ok=True)


def case_numbered(out):
    """An OCDBT item with "numbered" manifests: the configuration in
    manifest.ocdbt, versions in manifest.<generation>; the newest (2) holds
    the data, an older one (1) an empty database."""
    a = np.arange(10, dtype=np.int64) * 7
    kvs = {f"x/{k}": v for k, v in zarr_v2(a, chunks=(4,),
                                          compressor="gzip").items()}
    d = os.path.join(out, "numbered")
    keys = sorted(kvs)
    data, refs = b"", {}
    for k in keys:
        refs[k] = (0, len(data), len(kvs[k]))
        data += kvs[k]
    write(os.path.join(d, "d", "1" * 32), data)
    node = leaf_node([(k.encode(), refs[k]) for k in keys],
                     [(b"", b"d/" + b"1" * 32)])
    write(os.path.join(d, "d", "2" * 32), node)
    write(os.path.join(d, "manifest.ocdbt"), config_only_manifest())
    write(os.path.join(d, "manifest.0000000000000001"),
          manifest(None, 0, [], 0, generation=1))
    write(os.path.join(d, "manifest.0000000000000002"),
          manifest((0, 0, len(node)), 0, [(b"", b"d/" + b"2" * 32)],
                   len(keys), generation=2))
    write(os.path.join(d, "_METADATA"),
          tree_metadata([((("x", 2),), "jax.Array")], True, False))
    np.savez(os.path.join(out, "numbered.npz"), x=a)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    case_v2_folders(out)
    case_aggregate(out)
    case_v3_sharded(out)
    case_multiprocess(out)
    case_numbered(out)


if __name__ == "__main__":
    main()
