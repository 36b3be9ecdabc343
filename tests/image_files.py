"""Helpers that write image files for the data loader tests, with OpenCV or by hand."""

import struct
import zlib

import cv2
import numpy as np


def record_calls(monkeypatch, owner, name):
    """Wrap owner.name so that each call is recorded; return the list of recorded argument tuples."""
    calls = []
    original = getattr(owner, name)

    def recording(*arguments):
        calls.append(arguments)
        return original(*arguments)

    monkeypatch.setattr(owner, name, recording)
    return calls


def write_image(path, image, extension=None, params=()):
    """Encode image with OpenCV in the format of extension (default: path's) and write it to path."""
    extension = extension or path.suffix
    ok, encoded = cv2.imencode(extension, image, list(params))
    assert ok, f"OpenCV could not encode {extension}"
    path.write_bytes(encoded.tobytes())
    return path


def colour_pattern(height, width, seed=0):
    """Return a smooth random colour image (BGR uint8) that survives lossy compression well."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


def exif_segment(orientation):
    """Return a JPEG APP1 segment whose EXIF data holds only the Orientation tag."""
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)  # tag, SHORT, count 1, value
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def jpeg_with_orientation(image, orientation):
    """Return JPEG bytes of image with an EXIF Orientation tag inserted after the start-of-image marker."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    data = encoded.tobytes()
    return data[:2] + exif_segment(orientation) + data[2:]


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def palette_png(indices, palette, transparency=None):
    """Return the bytes of an 8-bit palette PNG (colour type 3) with RGB palette rows and optional tRNS."""
    height, width = indices.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    rows = b"".join(b"\x00" + bytes(row.tolist()) for row in indices.astype(np.uint8))
    chunks = png_chunk(b"IHDR", header) + png_chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).ravel()))
    if transparency is not None:
        chunks += png_chunk(b"tRNS", bytes(transparency))
    chunks += png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks
