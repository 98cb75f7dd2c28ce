"""Golden files: named arrays in one binary file that the C++ tests read.

Layout (little endian):
  magic   8 bytes  b"SELGOLD\\0"
  version u32      1
  count   u32      number of arrays
  then per array:
    name_len u32, name (utf-8)
    dtype    u32   0 = f32, 1 = i32
    ndim     u32, dims i64[ndim]
    data     prod(dims) elements
"""
import struct

import numpy as np

MAGIC = b"SELGOLD\0"
VERSION = 1
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.int32): 1}


def write_golden(path, arrays):
    """arrays: dict name -> numpy array (float32 or int32)."""
    with open(path, "wb") as f:
        f.write(MAGIC)
        f.write(struct.pack("<II", VERSION, len(arrays)))
        for name, a in arrays.items():
            a = np.ascontiguousarray(a)
            if a.dtype not in _DTYPES:
                raise TypeError(f"{name}: dtype {a.dtype} not supported (float32 or int32)")
            raw = name.encode()
            f.write(struct.pack("<I", len(raw)))
            f.write(raw)
            f.write(struct.pack("<II", _DTYPES[a.dtype], a.ndim))
            f.write(struct.pack(f"<{a.ndim}q", *a.shape))
            f.write(a.astype(a.dtype.newbyteorder("<")).tobytes())


def read_golden(path):
    out = {}
    with open(path, "rb") as f:
        if f.read(8) != MAGIC:
            raise ValueError(f"{path}: not a golden file")
        version, count = struct.unpack("<II", f.read(8))
        if version != VERSION:
            raise ValueError(f"{path}: version {version}, expected {VERSION}")
        for _ in range(count):
            (n,) = struct.unpack("<I", f.read(4))
            name = f.read(n).decode()
            code, ndim = struct.unpack("<II", f.read(8))
            dims = struct.unpack(f"<{ndim}q", f.read(8 * ndim))
            dt = np.float32 if code == 0 else np.int32
            count_el = int(np.prod(dims)) if ndim else 1
            out[name] = np.frombuffer(f.read(4 * count_el), dtype=dt).reshape(dims)
    return out
