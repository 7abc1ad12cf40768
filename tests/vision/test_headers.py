"""read_header agrees with Pillow on every file: format, stored size, mode, and the size after exif_transpose.

Golden values come from Pillow in the test itself (`Image.open` and `ImageOps.exif_transpose`), over a
few hundred files Pillow writes here, files crafted to hit the rules Pillow follows, and the photos
that ship inside scikit-image.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps, PngImagePlugin

from mmtok import errors
from mmtok.vision import headers
from mmtok.vision.headers import read_header, read_size

TRANSPOSING = {value: value for value in range(2, 9)}  # exif_transpose's method table, keyed the same way


def pillow_view(source):
    """(format, stored (w, h), mode, (w, h) after exif_transpose, Pillow's effective orientation).

    Files are opened as file objects, not paths: from a path Pillow memory-maps an uncompressed
    one-strip TIFF (modes L, P, I;16, ...) using its already-rotated size, and then rotates it back in
    load(), so exif_transpose returns the stored size and scrambled pixels (Pillow 13). mmtok reports
    the rotated size, which Pillow gives for every other way of opening the same file.
    """
    with warnings.catch_warnings(), open(source, "rb") if not isinstance(source, bytes) else io.BytesIO(source) as fp:
        warnings.simplefilter("ignore")
        with Image.open(fp) as im:  # noqa: SIM117
            (w, h), fmt, mode = im.size, im.format, im.mode
            if fmt == "TIFF" and im.tag_v2.get(274) in (5, 6, 7, 8):
                w, h = h, w  # Pillow reports a TIFF's size already rotated
            # exif_transpose first: it loads the image before reading the EXIF, and a PNG's EXIF may
            # change on load (chunks after the image data); getexif() first would cache the old one.
            # (A TIFF is the other way round: load() rotates it in place and drops the tag.)
            before = im.getexif().get(274, 1) if fmt == "TIFF" else None
            oriented = ImageOps.exif_transpose(im).size
            orientation = TRANSPOSING.get(im.getexif().get(274, 1) if before is None else before, 1)
            return fmt, (w, h), mode, oriented, orientation


def pillow_lazy(source):
    """(format, stored (w, h)) from Pillow's lazy open alone, or None where Pillow cannot open it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(io.BytesIO(source))
            (w, h) = im.size
            if im.format == "TIFF" and im.tag_v2.get(274) in (5, 6, 7, 8):
                w, h = h, w
            return im.format, (w, h)
    except Exception:
        return None


def assert_agrees(source, *, decode: bool = True):
    """read_header matches Pillow; `decode=False` skips exif_transpose (for files with broken pixel data)."""
    where = getattr(source, "name", "<bytes>")
    try:
        pillow = pillow_view(source) if decode else None
    except Exception:  # Pillow cannot decode it: compare with its lazy open alone
        pillow = None
    if pillow is None:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
        lazy = pillow_lazy(data)
        if lazy is None:  # Pillow cannot open it: mmtok must refuse it with a typed error
            with pytest.raises((errors.NotAnImageError, errors.TruncatedImageError)):
                read_header(source)
            return None
        header = read_header(source)
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as im:
            warnings.simplefilter("ignore")
            orientation = TRANSPOSING.get(im.getexif().get(274, 1), 1)
        assert (header.format, (header.width, header.height)) == lazy, where
        assert header.orientation == orientation, where
        return header
    header = read_header(source)
    fmt, stored, mode, oriented, orientation = pillow
    assert header.format == fmt, where
    assert (header.width, header.height) == stored, where
    assert header.size == (oriented[1], oriented[0]), where
    assert header.stored_size == (stored[1], stored[0]), where
    assert header.orientation == orientation, where
    if header.mode_hint is not None:
        assert header.mode_hint == mode, where
    return header


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[274] = orientation
    return exif.tobytes()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos < len(data):
        (n,) = struct.unpack_from(">I", data, pos)
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]))
        pos += 12 + n
    return out


def png_from(chunks) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(png_chunk(k, p) for k, p in chunks)


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


# --- a corpus Pillow writes ------------------------------------------------------------------------


def _image(mode: str, size: tuple[int, int], rng) -> Image.Image:
    """Mostly flat (small files), with a little noise so encoders do real work."""
    base = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    w, h = min(size[0], 16), min(size[1], 16)
    base.paste(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)), (0, 0))
    if mode in ("I;16", "I;16B"):
        return base.convert("L").convert("I").convert(mode)
    return base.convert(mode)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[Path]:
    rng = np.random.default_rng(1234)
    root = tmp_path_factory.mktemp("headers")
    sizes = [(1, 1), (1, 37), (41, 1), (2, 3), (3, 2), (17, 9), (640, 480), (481, 639), (1, 2500), (2999, 2)]
    sizes += [tuple(int(v) for v in rng.integers(1, 400, 2)) for _ in range(12)]
    sizes += [(1999, 1501)]
    files: list[Path] = []

    def save(image, fmt, suffix, **options):
        path = root / f"{len(files):04d}.{suffix}"
        image.save(path, fmt, **options)
        files.append(path)

    for i, size in enumerate(sizes):
        o = i % 9  # 0 = no EXIF
        exif = {"exif": exif_bytes(o)} if o else {}
        save(_image(("RGB", "L", "CMYK")[i % 3], size, rng), "JPEG", "jpg", quality=80, **exif)
        save(_image("RGB", size, rng), "JPEG", "jpg", progressive=True, **exif)
        for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
            save(_image(mode, size, rng), "PNG", "png", **(exif if mode in ("RGB", "P") else {}))
        save(_image("P", size, rng), "GIF", "gif")
        save(_image("L", size, rng), "GIF", "gif")
        for mode in ("1", "L", "P", "RGB", "RGBA"):
            save(_image(mode, size, rng), "BMP", "bmp")
        if max(size) <= 16383:
            save(_image("RGB", size, rng), "WEBP", "webp", quality=50)
            save(_image("RGB", size, rng), "WEBP", "webp", lossless=True)
            save(_image("RGBA", size, rng), "WEBP", "webp", **exif)
            save(_image("RGB", size, rng), "WEBP", "webp", lossless=True, exif=exif_bytes(o or 1))
        for mode in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I;16B", "F"):
            save(_image(mode, size, rng), "TIFF", "tif", tiffinfo={274: o} if o else {})
        save(_image("RGB", size, rng), "TIFF", "tif", compression="tiff_lzw", exif=exif_bytes(o or 1))
    for o in range(1, 9):
        save(_image("RGB", (30, 20), rng), "TIFF", "tif", compression="jpeg", tiffinfo={274: o})
    # formats read through Pillow (PPM ... MPO, animated PNG), and animated WebP and GIF
    small = _image("RGB", (33, 21), rng)
    for fmt, suffix, options in [
        ("PPM", "ppm", {}), ("TGA", "tga", {}), ("ICO", "ico", {}), ("PCX", "pcx", {}), ("SGI", "sgi", {}),
        ("DIB", "dib", {}), ("MPO", "mpo", {"save_all": True, "append_images": [small.rotate(90)]}),
        ("PNG", "apng", {"save_all": True, "append_images": [small.rotate(180)]}),
        ("WEBP", "webp", {"save_all": True, "append_images": [small.rotate(180)], "exif": exif_bytes(6)}),
        ("GIF", "gif", {"save_all": True, "append_images": [small.rotate(180)]}),
    ]:  # fmt: skip
        save(small, fmt, suffix, **options)
    return files


def test_agrees_with_pillow_on_every_file(corpus, monkeypatch):
    asked = []
    real = headers._pillow
    monkeypatch.setattr(headers, "_pillow", lambda origin, *a: asked.append(origin) or real(origin, *a))
    formats = set()
    for path in corpus:
        header = assert_agrees(path)
        formats.add(header.format)
        assert read_header(path.read_bytes()) == header  # bytes work as the path does
        assert read_header(str(path)) == header
    assert {"JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "MPO", "PPM"} <= formats
    assert len(corpus) > 300
    # Pillow is asked only about other formats, animated PNG, MPO and uncommon TIFF pixel layouts
    paths = [Path(p) for p in asked if isinstance(p, str)]
    assert {p.suffix for p in paths if p.suffix != ".tif"} == {".ppm", ".tga", ".ico", ".pcx", ".sgi", ".dib", ".mpo", ".apng"}
    for path in (p for p in paths if p.suffix == ".tif"):
        with Image.open(path) as im:
            assert im.mode == "F"


def skimage_files() -> list[Path]:
    from skimage import data

    root = Path(data.__file__).parent
    return sorted(p for ext in ("png", "jpg", "gif", "tif") for p in root.glob(f"*.{ext}"))


def test_agrees_with_pillow_on_scikit_image_photos():
    files = skimage_files()
    assert len(files) > 20
    for path in files:
        assert_agrees(path)


# --- truncated files -------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data", "ignore:Possibly corrupt EXIF")
def test_cut_files_fail_typed_or_agree(corpus):
    """Cut every kind of file at many offsets in and past its header: either read_header raises one of
    the two typed errors and Pillow cannot open the piece either, or both read the same size."""
    picked, seen = [], {}
    for path in corpus + skimage_files()[:8]:
        key = (path.suffix, path.stat().st_size > 2000)
        if seen.get(key, 0) < 3:
            seen[key] = seen.get(key, 0) + 1
            picked.append(path)
    cuts = 0
    for path in picked:
        data = path.read_bytes()
        offsets = sorted({*range(1, 80), *range(80, min(len(data), 1500), 37), len(data) - 1})
        for n in offsets:
            piece = data[:n]
            try:
                ours = read_header(piece)
            except (errors.TruncatedImageError, errors.NotAnImageError) as e:
                ours = e
            theirs = pillow_lazy(piece)
            where = f"{path.name} cut at {n}"
            if isinstance(ours, Exception):
                assert theirs is None, f"{where}: Pillow reads {theirs}, mmtok says {ours}"
                if isinstance(ours, errors.TruncatedImageError):
                    assert f"cut short after {n:,} bytes" in str(ours), str(ours)
            else:
                assert theirs is not None, f"{where}: Pillow cannot open it, mmtok reads {ours}"
                assert (ours.format, (ours.width, ours.height)) == theirs, where
            cuts += 1
    assert cuts > 2000


def test_header_cut_short_is_truncated(tmp_path):
    png = encode(Image.new("RGB", (300, 200)), "PNG")
    jpeg = encode(Image.new("RGB", (300, 200)), "JPEG", exif=exif_bytes(6))
    webp = encode(Image.new("RGB", (300, 200)), "WEBP")
    for data, n in [(png, 20), (png, 30), (jpeg, 200), (jpeg, 3), (webp, 40), (webp, len(webp) - 1)]:
        path = tmp_path / "cut.img"
        path.write_bytes(data[:n])
        with pytest.raises(errors.TruncatedImageError, match=rf"cut.img: is truncated \(header cut short after {n} bytes"):
            read_header(path)


# --- errors ----------------------------------------------------------------------------------------


def test_missing_empty_text_and_directory(tmp_path):
    with pytest.raises(errors.ImageNotFoundError, match="nope.jpg: no such file"):
        read_header(tmp_path / "nope.jpg")
    with pytest.raises(errors.ImageNotFoundError):
        read_header(tmp_path / "nope" / "deeper.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(errors.NotAnImageError, match="empty.png: not a readable image"):
        read_header(tmp_path / "empty.png")
    with pytest.raises(errors.NotAnImageError, match="<bytes>"):
        read_header(b"")
    (tmp_path / "notes.jpg").write_text("hello, this is not an image\n" * 10)
    with pytest.raises(errors.NotAnImageError, match="notes.jpg"):
        read_header(tmp_path / "notes.jpg")
    with pytest.raises(errors.NotAnImageError, match="photo #3: not a readable image"):
        read_header(b"hello" * 100, name="photo #3")
    with pytest.raises(errors.NotAnImageError, match="directory"):
        read_header(tmp_path)
    with pytest.raises(errors.UnsupportedInputError):
        read_header(12345)


def crafted_png(width: int, height: int, *, idat: bytes | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return png_from([(b"IHDR", ihdr), (b"IDAT", idat or zlib.compress(b"")), (b"IEND", b"")])


def test_zero_sized_is_empty():
    with pytest.raises(errors.EmptyImageError, match=r"<bytes>: has a zero-sized side \(height x width = 5 x 0\)"):
        read_header(crafted_png(0, 5))
    gif = bytearray(encode(Image.new("P", (10, 10)), "GIF"))
    gif[6:10] = bytes(4)  # logical screen 0 x 0
    frame = gif.index(b",")
    gif[frame + 5 : frame + 9] = bytes(4)  # and a 0 x 0 first frame
    with pytest.raises(errors.EmptyImageError):
        read_header(bytes(gif))


def test_decompression_bomb(monkeypatch):
    bomb = crafted_png(100_000, 100_000)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))  # Pillow's own verdict
    limit = 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(errors.ImageTooLargeError, match=rf"has 10,000,000,000 pixels .* limit of {limit:,}") as caught:
        read_header(bomb)
    assert isinstance(caught.value, ValueError)
    # between the warning and the error limits Pillow only warns, and so mmtok reads it
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert read_header(crafted_png(10_000, 10_000)).size == (10_000, 10_000)
        assert Image.open(io.BytesIO(crafted_png(10_000, 10_000))).size == (10_000, 10_000)
    assert headers.MAX_IMAGE_PIXELS == headers._PILLOW_DEFAULT_MAX_IMAGE_PIXELS
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10**11)  # raised in Pillow: followed
    assert read_header(bomb).size == (100_000, 100_000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(errors.ImageTooLargeError, match="limit of 2,000"):
        read_header(crafted_png(50, 50))
    monkeypatch.setattr(headers, "MAX_IMAGE_PIXELS", None)  # set in mmtok: wins, None is no limit
    assert read_header(bomb).size == (100_000, 100_000)
    monkeypatch.setattr(headers, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(errors.ImageTooLargeError, match="limit of 200"):
        read_header(crafted_png(20, 20))


def test_decompression_bomb_in_a_format_pillow_reads(monkeypatch):
    """A PPM (read through Pillow's open) past Pillow's limit: the size is still learnt and reported."""
    bomb = b"P6\n20000 20000\n255\n" + bytes(64)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(bomb))
    with pytest.raises(errors.ImageTooLargeError, match=r"height x width = 20000 x 20000"):
        read_header(bomb)
    monkeypatch.setattr(headers, "MAX_IMAGE_PIXELS", None)
    assert read_header(bomb) == headers.ImageHeader("PPM", 20000, 20000, 1, "RGB")


# --- JPEG rules --------------------------------------------------------------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, int]]:
    """(marker, start offset) of each segment up to SOS."""
    out, pos = [], 2
    while True:
        marker, n = data[pos + 1], struct.unpack_from(">H", data, pos + 2)[0]
        out.append((marker, pos))
        if marker == 0xDA:
            return out
        pos += 2 + n


def jpeg_insert(data: bytes, segment: bytes, after_marker: int | None = None) -> bytes:
    """Insert a segment right after SOI, or right after the first segment with `after_marker`."""
    if after_marker is None:
        return data[:2] + segment + data[2:]
    pos = next(p for m, p in jpeg_segments(data) if m == after_marker)
    pos += 2 + struct.unpack_from(">H", data, pos + 2)[0]
    return data[:pos] + segment + data[pos:]


def app(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def test_big_segments_before_sof_are_skipped_not_read(tmp_path, monkeypatch):
    image = Image.new("RGB", (64, 48), "blue")
    description = Image.Exif()
    description[274] = 6
    description[270] = "x" * 50_000  # a 50 KB tag inside the EXIF segment
    data = encode(image, "JPEG", comment=b"c" * 60_000, icc_profile=b"\x00" * 60_000, exif=description.tobytes())
    assert len(data) > 170_000
    path = tmp_path / "big.jpg"
    path.write_bytes(data)
    reads = []
    real_pread = headers._pread
    monkeypatch.setattr(headers, "_pread", lambda fd, n, off: reads.append(n) or real_pread(fd, n, off))
    header = assert_agrees(path)
    assert header.size == (64, 48) and header.orientation == 6
    assert len(reads) <= 4 and sum(reads) <= 4 * 4096, reads  # the 170 KB of segments are stepped over


def exif_ifd(entries, endian: str = "<") -> bytes:
    """An EXIF block (with "Exif\\0\\0") holding IFD0 `entries` = [(tag, type, count, value bytes)]."""
    head = (b"II*\x00" if endian == "<" else b"MM\x00*") + struct.pack(endian + "L", 8)
    data_at = 8 + 2 + 12 * len(entries) + 4
    body, extra = struct.pack(endian + "H", len(entries)), b""
    for tag, typ, count, value in entries:
        if len(value) <= 4:
            body += struct.pack(endian + "HHL", tag, typ, count) + value.ljust(4, b"\x00")
        else:
            body += struct.pack(endian + "HHLL", tag, typ, count, data_at + len(extra)) + value
            extra += value
    return b"Exif\x00\x00" + head + body + b"\x00" * 4 + extra


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("endian", ["<", ">"])
def test_exif_orientation_encodings_as_pillow_reads_them(endian):
    e = endian
    cases = {
        "short": [(274, 3, 1, struct.pack(e + "H", 6))],
        "long": [(274, 4, 1, struct.pack(e + "L", 8))],
        "two shorts": [(274, 3, 2, struct.pack(e + "HH", 5, 1))],
        "three shorts, out of line": [(274, 3, 3, struct.pack(e + "HHH", 7, 1, 1))],
        "ascii": [(274, 2, 2, b"6\x00")],
        "byte": [(274, 1, 1, b"\x06")],
        "undefined": [(274, 7, 1, b"\x06")],
        "rational": [(274, 5, 1, struct.pack(e + "LL", 12, 2))],
        "float": [(274, 11, 1, struct.pack(e + "f", 6.0))],
        "zero": [(274, 3, 1, struct.pack(e + "H", 0))],
        "nine": [(274, 3, 1, struct.pack(e + "H", 9))],
        "first stored wins": [(274, 3, 1, struct.pack(e + "H", 1)), (274, 3, 1, struct.pack(e + "H", 6))],
        "unknown type skipped": [(274, 99, 1, struct.pack(e + "H", 1)), (274, 3, 1, struct.pack(e + "H", 6))],
        "empty skipped": [(274, 3, 0, b""), (274, 3, 1, struct.pack(e + "H", 8))],
        "data past the end stops": [(270, 2, 5000, b"x" * 40), (274, 3, 1, struct.pack(e + "H", 6))],
    }
    image = encode(Image.new("RGB", (40, 30)), "JPEG")
    for label, entries in cases.items():
        blob = exif_ifd(entries, endian)
        if label == "data past the end stops":  # point the ASCII tag's data far past the block
            entry = struct.pack(e + "HHLL", 270, 2, 5000, 8 + 2 + 24 + 4)
            blob = blob.replace(entry, struct.pack(e + "HHLL", 270, 2, 30, 9000))
        data = jpeg_insert(image, app(0xE1, blob))
        assert assert_agrees(data), label


def xmp_packet(orientation: int, attribute: bool = True) -> bytes:
    """An XMP packet with tiff:Orientation as an attribute, or as an element."""
    if attribute:
        description = f'<rdf:Description tiff:Orientation="{orientation}"></rdf:Description>'
    else:
        description = f"<rdf:Description><tiff:Orientation>{orientation}</tiff:Orientation></rdf:Description>"
    return f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{description}</x:xmpmeta>'.encode()


def test_jpeg_structures_pillow_accepts():
    base = encode(Image.new("RGB", (40, 30)), "JPEG")

    def xmp(orientation, attribute=True):
        return app(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + xmp_packet(orientation, attribute))

    variants = {
        "xmp only": jpeg_insert(base, xmp(6)),
        "xmp element": jpeg_insert(base, xmp(8, attribute=False)),
        "exif without orientation, then xmp": jpeg_insert(base, xmp(5) + app(0xE1, exif_ifd([(270, 2, 2, b"a\x00")]))),
        "exif orientation 1 beats xmp": jpeg_insert(base, xmp(6) + app(0xE1, exif_bytes(1))),
        "exif after the SOF": jpeg_insert(base, app(0xE1, exif_bytes(6)), after_marker=0xC0),
        "two exif segments": jpeg_insert(base, app(0xE1, exif_bytes(7)) + app(0xE1, b"Exif\x00\x00" + b"z" * 50)),
        "fill bytes and junk": base[:2] + b"\xff\xff\xff" + b"\x00\x17" + base[2:],
        "a later SOF wins": jpeg_insert(base, app(0xC0, bytes((8, 0, 7, 0, 9, 1, 1, 0x11, 0))), after_marker=0xC0),
        "EOI before the header": base[:2] + b"\xff\xd9" + base[2:],
        "cut after the SOF": base[: next(p for m, p in jpeg_segments(base) if m == 0xC4)],
    }
    for label, data in variants.items():
        assert assert_agrees(data, decode=False), label
    assert read_header(variants["xmp only"]).size == (40, 30)
    assert read_header(variants["a later SOF wins"]).stored_size == (7, 9)
    assert read_header(variants["cut after the SOF"]).size == (30, 40)
    assert Image.open(io.BytesIO(variants["cut after the SOF"])).size == (40, 30)


def test_jpeg_structures_pillow_refuses():
    base = encode(Image.new("RGB", (40, 30)), "JPEG")
    sof = next(p for m, p in jpeg_segments(base) if m == 0xC0)
    twelve_bit = bytearray(base)
    twelve_bit[sof + 4] = 12
    two_components = bytearray(base)
    two_components[sof + 9] = 2
    bad = {
        "12-bit": bytes(twelve_bit),
        "2 components": bytes(two_components),
        "bad marker": base[:2] + b"\xff\x05" + base[2:],
        "short DQT": jpeg_insert(base, app(0xDB, b"\x00" + b"\x01" * 10)),
        "short JFIF": jpeg_insert(base, app(0xE0, b"JFIF\x00")),
        "cut Photoshop block": jpeg_insert(base, app(0xED, b"Photoshop 3.0\x00" + b"8BIM\x04\x04")),
        "no SOF": base[:sof] + base[sof + 2 + struct.unpack_from(">H", base, sof + 2)[0] :],
    }
    for label, data in bad.items():
        with pytest.raises(errors.NotAnImageError):
            read_header(data)
        with pytest.raises(Exception):  # noqa: B017 - any refusal will do
            Image.open(io.BytesIO(data))
        assert label


# --- PNG rules --------------------------------------------------------------------------------------


def test_png_orientation_on_both_sides_of_the_image_data(monkeypatch):
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 170, 3), dtype=np.uint8))
    chunks = png_chunks(encode(noise, "PNG", exif=exif_bytes(6)))
    exif = next(c for c in chunks if c[0] == b"eXIf")
    rest = [c for c in chunks if c[0] != b"eXIf"]
    idat = b"".join(p for k, p in rest if k == b"IDAT")
    ihdr = rest[0]
    many = [(b"IDAT", idat[i : i + 100]) for i in range(0, len(idat), 100)]
    raw = "\nexif\n{:8}\n{}\n".format(len(exif_bytes(8)), exif_bytes(8).hex())
    info = PngImagePlugin.PngInfo()
    info.add_text("Raw profile type exif", raw, zip=True)
    raw_png = png_chunks(encode(noise, "PNG", pnginfo=info))
    xmp = (b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_packet(5))
    variants = {
        "after IDAT": png_from([ihdr, (b"IDAT", idat), exif, (b"IEND", b"")]),
        "after 600 IDATs": png_from([ihdr, *many, exif, (b"IEND", b"")]),
        "before and after": png_from([ihdr, (b"eXIf", exif_bytes(3)[6:]), *many, exif, (b"IEND", b"")]),
        "raw profile": png_from(raw_png),
        "xmp": png_from([ihdr, xmp, (b"IDAT", idat), (b"IEND", b"")]),
        "xmp after": png_from([ihdr, (b"IDAT", idat), xmp, (b"IEND", b"")]),
    }
    for label, data in variants.items():
        assert assert_agrees(data).orientation != 1, label
    reads = []
    real = headers._Source.at
    monkeypatch.setattr(headers._Source, "at", lambda self, o, n: reads.append(o) or real(self, o, n))
    assert read_header(variants["after 600 IDATs"]).orientation == 6
    assert len(reads) < 60, len(reads)  # galloping over the run, not a read per chunk


def test_png_structures_pillow_refuses():
    good = png_chunks(encode(Image.new("RGB", (20, 10)), "PNG"))
    ihdr = good[0][1]
    bad_crc = bytearray(png_from(good))
    bad_crc[29] ^= 0xFF  # the IHDR checksum
    for label, data in {
        "bad checksum": bytes(bad_crc),
        "short IHDR": png_from([(b"IHDR", ihdr[:12]), *good[1:]]),
        "unknown colour type": png_from([(b"IHDR", ihdr[:9] + b"\x05" + ihdr[10:]), *good[1:]]),
        "filter method": png_from([(b"IHDR", ihdr[:11] + b"\x01" + ihdr[12:]), *good[1:]]),
        "short gAMA": png_from([good[0], (b"gAMA", b"\x00"), *good[1:]]),
        "bad chunk type": png_from([good[0], (b"a b!", b""), *good[1:]]),
        "no IHDR": png_from(good[1:]),
    }.items():
        with pytest.raises(errors.NotAnImageError):
            read_header(data)
        with pytest.raises(Exception):  # noqa: B017
            Image.open(io.BytesIO(data))
        assert label


# --- GIF, BMP, WebP, TIFF rules ----------------------------------------------------------------------


def test_gif_size_is_the_screen_grown_to_the_first_frame():
    gif = bytearray(encode(Image.new("P", (30, 20)), "GIF"))
    for screen in [(10, 50), (0, 0), (30, 20), (100, 5)]:
        gif[6:10] = struct.pack("<HH", *screen)
        header = assert_agrees(bytes(gif))
        assert (header.width, header.height) == (max(30, screen[0]), max(20, screen[1]))
    offset = bytearray(encode(Image.new("P", (30, 20)), "GIF"))
    frame = offset.index(b",")
    offset[frame + 1 : frame + 5] = struct.pack("<HH", 7, 9)  # the frame placed at (7, 9)
    assert read_header(bytes(offset)).stored_size == (29, 37)
    assert_agrees(bytes(offset))


def test_bmp_variants():
    rgb = encode(Image.new("RGB", (37, 21), "red"), "BMP")
    top_down = bytearray(rgb)
    top_down[22:26] = struct.pack("<i", -21)
    core = b"BM" + struct.pack("<IHHI", 26 + 21 * 112, 0, 0, 26) + struct.pack("<IHHHH", 12, 37, 21, 1, 24) + bytes(21 * 112)
    for data in (bytes(top_down), core):
        assert read_header(data).size == (21, 37)
        assert_agrees(data)
    two_bit = bytearray(rgb)
    two_bit[28:30] = struct.pack("<H", 2)
    png_inside = bytearray(rgb)
    png_inside[30:34] = struct.pack("<I", 5)
    for data in (bytes(two_bit), bytes(png_inside), rgb[:14] + struct.pack("<I", 20) + rgb[18:]):
        with pytest.raises(errors.NotAnImageError):
            read_header(data)
        with pytest.raises(OSError):
            Image.open(io.BytesIO(data))


def test_webp_variants():
    image = Image.new("RGB", (37, 21), "red")
    plain = encode(image, "WEBP")
    exif_unflagged = bytearray(encode(image, "WEBP", exif=exif_bytes(6)))
    exif_unflagged[20] &= ~0x08  # libwebp then ignores the EXIF chunk, and so does Pillow
    for data in [
        plain + b"trailing bytes after the RIFF data",
        bytes(exif_unflagged),
        encode(image, "WEBP", xmp=xmp_packet(6)),
        encode(image.convert("RGBA"), "WEBP", lossless=True),
        encode(image, "WEBP", save_all=True, append_images=[image.rotate(90)], exif=exif_bytes(8)),
    ]:
        assert_agrees(data)
    assert read_header(bytes(exif_unflagged)).orientation == 1
    longer = bytearray(plain)
    longer[4:8] = struct.pack("<I", len(plain) - 8 + 2)
    vp8x = bytearray(encode(image, "WEBP", exif=exif_bytes(1)))
    vp8x[24] = 39  # canvas 40 wide, image 37
    for data in (bytes(longer) + b"\x00\x00", bytes(vp8x)):
        with pytest.raises(errors.NotAnImageError):
            read_header(data)
        with pytest.raises(OSError):
            Image.open(io.BytesIO(data))


def tiff_big_endian(width: int, height: int, orientation: int) -> bytes:
    """A minimal big-endian RGB TIFF (Pillow writes big-endian only for I;16B)."""
    entries = [(256, 4, width), (257, 4, height), (258, 3, None), (259, 3, 1), (262, 3, 2), (273, 4, 0),
               (274, 3, orientation), (277, 3, 3), (278, 4, height), (279, 4, width * height * 3)]  # fmt: skip
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at, pixels_at = 8 + ifd_size, 8 + ifd_size + 6
    out = b"MM\x00*" + struct.pack(">L", 8) + struct.pack(">H", len(entries))
    for tag, typ, value in entries:
        if tag == 258:
            out += struct.pack(">HHLL", tag, typ, 3, bits_at)
        elif tag == 273:
            out += struct.pack(">HHLL", tag, typ, 1, pixels_at)
        else:
            out += struct.pack(">HHL", tag, typ, 1) + (struct.pack(">HH", value, 0) if typ == 3 else struct.pack(">L", value))
    return out + bytes(4) + struct.pack(">HHH", 8, 8, 8) + bytes(width * height * 3)


def test_tiff_variants():
    for orientation in range(1, 9):
        data = tiff_big_endian(13, 7, orientation)
        header = assert_agrees(data)
        assert header.orientation == orientation and header.stored_size == (7, 13)
    with_xmp = encode(Image.new("RGB", (13, 7)), "TIFF", tiffinfo={700: xmp_packet(6)})
    assert assert_agrees(with_xmp).size == (13, 7)


def test_tiff_layouts_are_pillows():
    from PIL import TiffImagePlugin

    from mmtok.vision import header_formats

    assert header_formats._TIFF_LAYOUTS <= set(TiffImagePlugin.OPEN_INFO)
    assert header_formats._TIFF_COMPRESSIONS == set(TiffImagePlugin.COMPRESSION_INFO)
    assert header_formats._PNG_MODES == {k: v[0] for k, v in PngImagePlugin._MODES.items()}


def test_jpeg_marker_tables_are_pillows():
    from PIL import JpegImagePlugin

    table = JpegImagePlugin.MARKER
    assert {m & 0xFF for m, (_, _, h) in table.items() if h is JpegImagePlugin.SOF} == headers._JPEG_SOF
    assert {m & 0xFF for m, (_, _, h) in table.items() if h is None} == headers._JPEG_NO_LENGTH
    assert all(m in table for m in range(0xFFC0, 0xFFFF))


# --- the API and the fast path --------------------------------------------------------------------


def test_header_api(tmp_path):
    path = tmp_path / "rotated.jpg"
    Image.new("RGB", (40, 30)).save(path, exif=exif_bytes(6))
    header = read_header(path)
    assert header == headers.ImageHeader("JPEG", 40, 30, 6, "RGB")
    assert header.size == (40, 30) and header.stored_size == (30, 40)
    assert read_size(path) == (40, 30) == read_size(path.read_bytes())
    assert read_header(bytearray(path.read_bytes())) == header
    with pytest.raises(AttributeError):
        header.width = 1  # frozen
    assert hash(header) == hash(headers.ImageHeader("JPEG", 40, 30, 6, "RGB"))


def test_fast_path_does_not_import_pillow(tmp_path):
    paths = []
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"):
        path = tmp_path / f"x.{fmt.lower()}"
        options = {"exif": exif_bytes(6)} if fmt in ("JPEG", "PNG", "WEBP") else {}
        Image.new("RGB", (40, 30)).save(path, fmt, **options)
        paths.append(str(path))
    code = (
        "import sys, mmtok.vision.headers as h\n"
        f"sizes = [h.read_header(p).size for p in {paths!r}]\n"
        "print('PIL' in sys.modules, sizes)\n"
        "import PIL.Image\n"
        "print(PIL.Image.MAX_IMAGE_PIXELS == h.MAX_IMAGE_PIXELS)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "False [(40, 30), (40, 30), (40, 30), (30, 40), (30, 40), (30, 40)]"
    assert out[1] == "True"  # the hard-coded default is Pillow's
