"""Read a folder of face images with OpenCV and serve them as float32 mini-batches.

Every image is read by content, not by name, converted to 8-bit grayscale the
same way whatever its format, centre-cropped to a square (a face is never
stretched), resized to IMAGE_SIZE x IMAGE_SIZE and kept in memory as uint8.
Only the current mini-batch is converted to float32 in [0, 1], so memory
stays near one byte per pixel of the dataset.

Files that cannot be used are skipped and counted by reason; the user's
folder is only read, never written. The prepared uint8 array can be cached
as an .npz file in another folder, so that the next start on an unchanged
folder skips decoding.
"""

import errno
import hashlib
import json
import logging
import os
import re
import stat
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import cv2
import numpy as np

from report import StatusLine

log = logging.getLogger(__name__)

# Raise this whenever a preparation step changes its output, so that caches
# written by the older code are rebuilt instead of trusted.
PREPARATION_VERSION = 1

# Names that mark a file as an image even when its content is not recognised;
# such a file is reported as corrupt instead of "not an image".
IMAGE_EXTENSIONS = {
    ".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".pgm", ".ppm", ".pbm", ".pnm",
    ".bmp", ".dib", ".tif", ".tiff", ".webp", ".gif", ".heic", ".heif", ".avif",
}

# Brands in the "ftyp" box of HEIF and AVIF files (the formats of many phone photos).
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}

# "P1" to "P6", whitespace and comment lines, then the first digit of the width.
PNM_HEADER = re.compile(rb"P[1-6]\s+(#[^\n]*\n\s*)*\d")

# Reasons for skipping a file, as the summary line names them.
HIDDEN = "hidden"
NOT_AN_IMAGE = "not an image"
EMPTY = "empty file"
NO_PERMISSION = "no read permission"
READ_FAILED = "read error"
BROKEN_LINK = "broken symbolic link"
LINK_LOOP = "symbolic-link loop"
DUPLICATE_FOLDER = "folder already read through another link"
NOT_REGULAR = "not a regular file"
OUTPUT_FOLDER = "output folder"
TRUNCATED = "truncated"
CORRUPT = "corrupt"
UNSUPPORTED = "format not supported by this OpenCV"
TOO_SMALL = "smaller than half the training size"

# How many file names the summary shows for each skip reason before it only counts them.
MAX_NAMED_SKIPS = 3

# cv::utils::logging::LOG_LEVEL_SILENT, the same value in OpenCV 4 and 5.
OPENCV_LOG_SILENT = 0

# Files prepared per batch of work handed to the decoding threads.
CHUNK_SIZE = 64

# A 1x1 GIF, decoded once to find out whether this OpenCV build reads GIF at all
# (its own GIF decoder arrived in the 4.11 series and can be left out of a build).
PROBE_GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
             b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

# Decode flags: keep colour and bit depth and apply the EXIF orientation. With
# IMREAD_UNCHANGED, OpenCV keeps the alpha channel but ignores the orientation.
ORIENTED = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
REDUCED_COLOR = {2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


class NoImagesError(Exception):
    """Raised when a data folder contains no image that can be used for training."""


class Summary:
    """Record of one load: images used, skip counts by reason with a few names each, enlarged images."""

    def __init__(self, folder, size):
        self.folder = folder
        self.size = size
        self.used = 0
        self.skipped = {}  # reason -> {"count": int, "names": [first few relative paths]}
        self.enlarged = {"count": 0, "names": [], "smallest_side": None}
        self.from_cache = False

    def skip(self, path, reason):
        entry = self.skipped.setdefault(reason, {"count": 0, "names": []})
        entry["count"] += 1
        if len(entry["names"]) < MAX_NAMED_SKIPS:
            entry["names"].append(self.display_name(path))

    def enlarge(self, path, side):
        self.enlarged["count"] += 1
        if len(self.enlarged["names"]) < MAX_NAMED_SKIPS:
            self.enlarged["names"].append(self.display_name(path))
        smallest = self.enlarged["smallest_side"]
        self.enlarged["smallest_side"] = side if smallest is None else min(smallest, side)

    def display_name(self, path):
        """Return path relative to the data folder, printable even if its bytes are not valid UTF-8."""
        relative = os.path.relpath(path, self.folder)
        return os.fsencode(relative).decode("utf-8", "replace")

    def skipped_count(self):
        return sum(entry["count"] for entry in self.skipped.values())

    def describe_skips(self):
        """Return the skip counts by reason with the first few names: '2 empty file (a.png, b.png)'."""
        parts = []
        for reason, entry in sorted(self.skipped.items(), key=lambda item: -item[1]["count"]):
            names = ", ".join(entry["names"])
            more = ", ..." if entry["count"] > len(entry["names"]) else ""
            parts.append(f"{entry['count']} {reason} ({names}{more})")
        return "; ".join(parts)

    def to_json(self):
        return json.dumps({"used": self.used, "skipped": self.skipped, "enlarged": self.enlarged})

    @classmethod
    def from_json(cls, text, folder, size):
        fields = json.loads(text)
        summary = cls(folder, size)
        summary.used = int(fields["used"])
        summary.skipped = fields["skipped"]
        summary.enlarged = fields["enlarged"]
        return summary


# --- Finding files ---


def scan_folder(folder, summary, excluded=()):
    """Return (path, (size, mtime_ns, mode)) of every regular file under folder, in a fixed order.

    Each folder's files come in name order, then its subfolders in name order.
    Symbolic links are followed. Hidden entries (names starting with "."),
    broken links, link loops, unreadable folders and special files such as
    FIFOs are recorded in summary as skipped instead. Subfolders that are one
    of the excluded folders (such as the output folder) are skipped too.
    """
    excluded_identities = set()
    for path in excluded:
        try:
            excluded_stat = os.stat(path)
        except OSError:
            continue  # a folder that does not exist yet contains nothing to exclude
        excluded_identities.add((excluded_stat.st_dev, excluded_stat.st_ino))
    files = []
    visited = set()
    pending = [(folder, frozenset())]  # folders still to read, with their ancestors' identities

    while pending:
        directory, ancestors = pending.pop()
        try:
            directory_stat = os.stat(directory)
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except PermissionError:
            summary.skip(directory, NO_PERMISSION)
            continue
        except OSError:
            summary.skip(directory, READ_FAILED)
            continue
        identity = (directory_stat.st_dev, directory_stat.st_ino)
        if identity in ancestors:
            summary.skip(directory, LINK_LOOP)
            continue
        if identity in visited:
            summary.skip(directory, DUPLICATE_FOLDER)
            continue
        if identity in excluded_identities and ancestors:
            summary.skip(directory, OUTPUT_FOLDER)
            continue
        visited.add(identity)

        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                summary.skip(entry.path, HIDDEN)
                continue
            try:
                entry_stat = entry.stat()  # follows symbolic links
            except OSError as error:
                if not entry.is_symlink():
                    summary.skip(entry.path, READ_FAILED)
                elif error.errno == errno.ELOOP:
                    summary.skip(entry.path, LINK_LOOP)
                else:
                    summary.skip(entry.path, BROKEN_LINK)
                continue
            if stat.S_ISDIR(entry_stat.st_mode):
                subfolders.append((entry.path, ancestors | {identity}))
            elif stat.S_ISREG(entry_stat.st_mode):
                files.append((entry.path, (entry_stat.st_size, entry_stat.st_mtime_ns, entry_stat.st_mode)))
            else:
                summary.skip(entry.path, NOT_REGULAR)
        pending.extend(reversed(subfolders))  # so that they are popped in name order

    return files


def identify_format(head):
    """Return the format name that the first bytes of a file show, or None if they match no known image."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    # BMP's own signature is only "BM", so the size of the header that follows is checked too.
    if head[:2] == b"BM" and int.from_bytes(head[14:18], "little") in (12, 40, 52, 56, 64, 108, 124):
        return "BMP"
    if PNM_HEADER.match(head):
        return "PNM"
    if head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS:
        return "HEIF"
    return None


# --- Decoding one file ---


@cache
def gif_decoder_available():
    """Return True if this OpenCV build decodes GIF."""
    try:
        return cv2.imdecode(np.frombuffer(PROBE_GIF, np.uint8), cv2.IMREAD_UNCHANGED) is not None
    except cv2.error:
        return False


def scan_jpeg(data):
    """Return ((height, width) or None, complete) from the markers of a JPEG file.

    complete is False when no end-of-image marker follows the first scan,
    which means the file was cut short: some OpenCV versions decode such a
    file anyway and fill the missing part with gray.
    """
    shape = None
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            position += 2
            continue
        length = int.from_bytes(data[position + 2:position + 4], "big")
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            # Inside entropy-coded data a 0xFF byte is always followed by 0x00
            # or a restart marker, so an FF D9 pair after this point is the
            # end-of-image marker.
            return shape, data.find(b"\xff\xd9", position + 2 + length) >= 0
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
            height = int.from_bytes(data[position + 5:position + 7], "big")
            width = int.from_bytes(data[position + 7:position + 9], "big")
            shape = (height, width)
        position += 2 + length
    return shape, False


def reduction_factor(shorter_side, size):
    """Return the largest JPEG decode reduction (8, 4, 2 or 1) that keeps the shorter side >= 2 * size."""
    for factor in (8, 4, 2):
        if shorter_side // factor >= 2 * size:
            return factor
    return 1


def may_have_alpha(image_format, data):
    """Return True if the file may carry transparency, which needs a second decode with IMREAD_UNCHANGED.

    Only PNG and WebP headers are read; TIFF and HEIF are always decoded twice.
    """
    if image_format == "PNG":
        colour_type = data[25] if len(data) > 25 else 0
        header_end = data.find(b"IDAT")
        return colour_type in (4, 6) or b"tRNS" in data[:header_end]
    if image_format == "WebP":
        chunk = data[12:16]
        if chunk == b"VP8X":  # extended format: a flags byte
            return len(data) > 20 and bool(data[20] & 0x10)
        if chunk == b"VP8L":  # lossless: alpha_is_used is bit 28 after the 0x2F signature byte
            return bool(int.from_bytes(data[21:25], "little") >> 28 & 1)
        return False  # simple lossy WebP has no alpha
    # A 32-bit BMP is not checked: its fourth byte is unused padding in most files.
    return image_format in ("TIFF", "HEIF")


def to_8bit(image):
    """Return image as uint8: 16-bit values scaled by 255/65535, floats in [0, 1] by 255; else None."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if image.dtype in (np.float16, np.float32, np.float64):
        return np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    return None


def to_gray(image):
    """Convert a uint8 image with 1, 3 or 4 channels (BGR order) to one channel with ITU-R BT.601 weights."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0]
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)


def orient_like(unchanged, oriented):
    """Rotate or mirror unchanged (which still has its alpha channel) so that its colour matches oriented.

    IMREAD_UNCHANGED ignores the EXIF orientation, so the one of the eight
    rotations and mirror images whose colour channels equal the oriented
    decode is the right one. Returns None if none matches.
    """
    colour = oriented if oriented.ndim == 3 else oriented[:, :, np.newaxis]
    for turns in range(4):
        rotated = np.rot90(unchanged, turns)
        for candidate in (rotated, rotated[:, ::-1]):
            if candidate.shape[:2] != colour.shape[:2]:
                continue
            channels = candidate[:, :, :colour.shape[2]]
            if np.array_equal(channels, colour):
                return candidate
    return None


def decode_gray(data, image_format, size):
    """Decode image bytes to an 8-bit grayscale array; return (image, None) or (None, skip reason).

    Colour is converted by to_gray in every path, and transparent pixels are
    composited onto white. A JPEG much larger than size is decoded at 1/2,
    1/4 or 1/8 scale by the JPEG decoder itself, without a full-size decode.
    """
    flags = ORIENTED
    if image_format == "JPEG":
        shape, complete = scan_jpeg(data)
        if not complete:
            return None, TRUNCATED
        if shape is not None:
            factor = reduction_factor(min(shape), size)
            flags = REDUCED_COLOR.get(factor, ORIENTED)

    encoded = np.frombuffer(data, np.uint8)
    try:
        if image_format == "GIF":
            # GIF carries no EXIF orientation, so one decode that keeps the alpha suffices.
            image = unchanged = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
        else:
            image = cv2.imdecode(encoded, flags)
            unchanged = None
            if image is not None and may_have_alpha(image_format, data):
                unchanged = cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        image = None
    if image is None:
        if image_format == "HEIF" or (image_format == "GIF" and not gif_decoder_available()):
            return None, UNSUPPORTED
        return None, CORRUPT

    image = to_8bit(image)
    if image is None:
        return None, UNSUPPORTED
    gray = to_gray(image)
    if unchanged is not None and unchanged.ndim == 3 and unchanged.shape[2] == 4:
        unchanged = to_8bit(unchanged)
        # NOTE: if no rotation of the alpha decode matches the oriented one,
        # the transparency is ignored and the stored colour is used as it is.
        matched = orient_like(unchanged, image) if unchanged is not None else None
        if matched is not None:
            alpha = matched[:, :, 3].astype(np.float32) * np.float32(1.0 / 255.0)
            gray = np.rint(gray * alpha + 255.0 * (1.0 - alpha)).astype(np.uint8)
    return gray, None


def centre_crop_and_resize(image, size):
    """Crop the largest centred square from image and resize it to size x size pixels."""
    height, width = image.shape
    side = min(height, width)
    top = (height - side) // 2
    left = (width - side) // 2
    square = image[top:top + side, left:left + side]
    # INTER_AREA averages the source pixels when shrinking and so avoids
    # aliasing; INTER_CUBIC is the smoother choice when enlarging.
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interpolation)


def read_file(path):
    """Return the bytes of the file at path, or None if neither its first bytes nor its name show an image."""
    with open(path, "rb") as file:
        head = file.read(32)
        if not head:
            return head
        if identify_format(head) is None and os.path.splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
            return None
        return head + file.read()


def prepare_image(path, size):
    """Read, decode, crop and resize one file; return (pixels or None, skip reason or None, shorter side).

    pixels is uint8 of shape (size * size,). The shorter side is that of the
    decoded image, before any crop, so the caller can count enlarged images.
    """
    try:
        data = read_file(path)
    except PermissionError:
        return None, NO_PERMISSION, 0
    except OSError:
        return None, READ_FAILED, 0
    if data is None:
        return None, NOT_AN_IMAGE, 0
    if len(data) == 0:
        return None, EMPTY, 0
    image_format = identify_format(data[:32])
    if image_format is None:
        return None, CORRUPT, 0

    gray, reason = decode_gray(data, image_format, size)
    if gray is None:
        return None, reason, 0
    shorter_side = min(gray.shape)
    # Small-image rule: enlarging by more than 2x only teaches the networks blur.
    if 2 * shorter_side < size:
        return None, TOO_SMALL, shorter_side
    return centre_crop_and_resize(gray, size).reshape(-1), None, shorter_side


# --- Progress line ---


class Progress:
    """A progress line for a long load: files done, total and rate.

    On a terminal the line rewrites itself a few times a second; otherwise a
    plain log line appears every PLAIN_INTERVAL seconds. Nothing is shown for
    a load that ends within its first second.
    """

    FIRST_DELAY = 1.0
    TERMINAL_INTERVAL = 0.2
    PLAIN_INTERVAL = 10.0

    def __init__(self, total, stream=None, clock=time.monotonic):
        self.total = total
        self.line = StatusLine(stream, log)
        self.clock = clock
        self.start = clock()
        self.last_shown = None

    def update(self, done):
        now = self.clock()
        elapsed = now - self.start
        if elapsed < self.FIRST_DELAY:
            return
        interval = self.TERMINAL_INTERVAL if self.line.on_terminal else self.PLAIN_INTERVAL
        if self.last_shown is not None and now - self.last_shown < interval:
            return
        self.last_shown = now
        self.line.show(f"Reading images: {done}/{self.total} files, {done / elapsed:.0f} files/s")

    def finish(self):
        """Clear a terminal progress line so that the summary replaces it."""
        self.line.clear()


# --- Loading a folder ---


def set_opencv_log_level(level):
    """Set OpenCV's log level and return the previous one, or do nothing and return None without the API.

    OpenCV 5 has the functions in cv2.utils.logging, OpenCV 4 in cv2.
    """
    module = getattr(getattr(cv2, "utils", None), "logging", None)
    if not hasattr(module, "setLogLevel"):
        module = cv2
    if level is None or not hasattr(module, "setLogLevel"):
        return None
    previous = module.getLogLevel()
    module.setLogLevel(level)
    return previous


def prepare_files(files, size, summary):
    """Decode every file into one uint8 array (count, size * size), allocated once; record skips in summary.

    Decoding runs in a few threads, because OpenCV releases the GIL while it
    decodes and resizes; results are taken in file order.
    """
    images = np.empty((len(files), size * size), dtype=np.uint8)
    count = 0
    progress = Progress(len(files))
    # OpenCV logs every decode failure to stderr; the summary reports them instead.
    old_log_level = set_opencv_log_level(OPENCV_LOG_SILENT)
    try:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            for start in range(0, len(files), CHUNK_SIZE):
                paths = [path for path, _ in files[start:start + CHUNK_SIZE]]
                results = pool.map(prepare_image, paths, [size] * len(paths))
                for path, (pixels, reason, shorter_side) in zip(paths, results, strict=True):
                    if pixels is None:
                        summary.skip(path, reason)
                        continue
                    if shorter_side < size:
                        summary.enlarge(path, shorter_side)
                    images[count] = pixels
                    count += 1
                progress.update(start + len(paths))
    finally:
        set_opencv_log_level(old_log_level)
        progress.finish()
    summary.used = count
    return images[:count]


def cache_key(files, summary, size):
    """Return a hex digest of everything the prepared images depend on.

    That is the relative path, size, modification time and mode of every
    file, the entries already skipped, the training size, PREPARATION_VERSION
    and the OpenCV version (decoders can change between versions).
    """
    digest = hashlib.sha256()
    digest.update(f"{PREPARATION_VERSION}\0{cv2.__version__}\0{size}\n".encode())
    for path, (file_size, mtime_ns, mode) in files:
        relative = os.fsencode(os.path.relpath(path, summary.folder))
        digest.update(relative + f"\0{file_size}\0{mtime_ns}\0{mode}\n".encode())
    digest.update(json.dumps(summary.skipped, sort_keys=True).encode())
    return digest.hexdigest()


def cache_path(cache_dir, folder):
    """Return the cache file of folder: one per data folder, named after it and a hash of its full path."""
    absolute = os.path.abspath(folder)
    name = re.sub(r"[^A-Za-z0-9_-]", "_", os.path.basename(absolute))[:40] or "data"
    digest = hashlib.sha256(os.fsencode(absolute)).hexdigest()[:16]
    return os.path.join(cache_dir, f"{name}-{digest}.npz")


def read_cache(path, key, folder, size):
    """Return (images, summary) from the cache file at path, or None if it is missing, stale or damaged."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            if str(archive["key"]) != key:
                log.info("The data folder or the preparation settings changed; rebuilding the cache %s", path)
                return None
            images = archive["images"]
            summary = Summary.from_json(str(archive["summary"]), folder, size)
        if images.dtype != np.uint8 or images.ndim != 2 or images.shape != (summary.used, size * size):
            raise ValueError(f"images of shape {images.shape} and type {images.dtype}")
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as error:
        reason = "not a NumPy .npz file" if "allow_pickle" in str(error) else error
        log.warning("The cache %s is damaged (%s), so it is rebuilt.", path, reason)
        return None
    summary.from_cache = True
    return images, summary


def write_cache(path, key, images, summary):
    """Write the cache file atomically: a reader sees the old file or the new one, never half of one."""
    temporary = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=os.path.dirname(path))
        with os.fdopen(descriptor, "wb") as file:
            np.savez(file, images=images, key=np.array(key), summary=np.array(summary.to_json()))
        os.replace(temporary, path)
    except OSError as error:
        log.warning("Could not write the data cache %s (%s); the next start reads the images again.",
                    path, error)
        if temporary is not None and os.path.exists(temporary):
            os.unlink(temporary)


def read_dataset(folder, size, cache_dir=None, excluded=()):
    """Read every usable image under folder; return (uint8 images of shape (count, size * size), Summary).

    With cache_dir, the prepared images are read from or written to a cache
    file there. Subfolders listed in excluded, such as the output folder
    with its sample grids, are not read. Raises NoImagesError, whose message names the folder and the
    skip counts, if nothing under folder can be used.
    """
    started = time.perf_counter()
    summary = Summary(folder, size)
    files = scan_folder(folder, summary, excluded)
    key = cache_key(files, summary, size)
    path = cache_path(cache_dir, folder) if cache_dir is not None else None

    cached = read_cache(path, key, folder, size) if path is not None else None
    if cached is not None:
        images, summary = cached
    else:
        images = prepare_files(files, size, summary)
        if summary.used == 0:
            raise NoImagesError(no_images_message(folder, summary))
        if path is not None:
            write_cache(path, key, images, summary)

    log_summary(summary, time.perf_counter() - started, path)
    return images, summary


def load_images(folder, size, cache_dir=None, excluded=()):
    """Return the uint8 images (count, size * size) of every usable image under folder; see read_dataset."""
    images, _ = read_dataset(folder, size, cache_dir, excluded)
    return images


def plural(count, noun):
    """Return the count with its noun, "1 file" or "2 files"."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def no_images_message(folder, summary):
    message = f"No usable image in {folder}"
    if summary.skipped:
        message += f": skipped {summary.skipped_count()}: {summary.describe_skips()}"
    message += (". Put PNG, JPEG, PGM/PPM, BMP, TIFF, WebP or GIF images there, "
                "or choose another folder with --data-dir.")
    if TOO_SMALL in summary.skipped:
        message += " For small images, lower --image-size."
    return message


def log_summary(summary, seconds, cache_file):
    source = f"the cache {cache_file}" if summary.from_cache else "the files"
    line = (f"Loaded {summary.used} images of {summary.size}x{summary.size} from {summary.folder} "
            f"in {seconds:.1f}s, read from {source}")
    if summary.skipped:
        line += f"; skipped {summary.skipped_count()}: {summary.describe_skips()}"
    log.info("%s.", line)
    enlarged = summary.enlarged
    if enlarged["count"]:
        more = ", ..." if enlarged["count"] > len(enlarged["names"]) else ""
        log.warning("Enlarged %s smaller than %dx%d, which blurs them (%s%s). "
                    "--image-size %d or less avoids this.",
                    plural(enlarged["count"], "image"), summary.size, summary.size,
                    ", ".join(enlarged["names"]), more, enlarged["smallest_side"])


class Dataset:
    """Training images kept as uint8, served as shuffled float32 mini-batches."""

    def __init__(self, images, size, horizontal_flip):
        self.images = images  # (count, size * size), uint8
        self.size = size
        self.horizontal_flip = horizontal_flip

    def __len__(self):
        return len(self.images)

    def batches_per_epoch(self, batch_size):
        return -(-len(self.images) // batch_size)

    def batches(self, batch_size, rng):
        """Yield one epoch of mini-batches in a new random order, float32 in [0, 1].

        The last batch is smaller when the image count is not a multiple of
        batch_size. With horizontal_flip, each image is mirrored with
        probability 0.5.
        """
        order = rng.permutation(len(self.images))
        for start in range(0, len(order), batch_size):
            indices = order[start:start + batch_size]
            batch = self.images[indices].astype(np.float32)  # (batch, size * size)
            batch *= np.float32(1.0 / 255.0)
            if self.horizontal_flip:
                flip = rng.random(len(indices)) < 0.5
                squares = batch.reshape(-1, self.size, self.size)
                squares[flip] = squares[flip, :, ::-1]
            yield batch
