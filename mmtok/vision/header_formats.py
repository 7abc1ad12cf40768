"""Header parsers for PNG, GIF, BMP, WebP and TIFF (JPEG's is in `headers`), and their signals.

Each `read_<format>(source)` follows the Pillow 13 plugin named in its section, and returns
`(format, width, height, orientation, mode_hint)`. `source` is `headers._Source`: `.head` (the
first block), `.at(offset, count)`, `.peek(offset, count)`, `.need(end, what)`, `.length()` and
`.window(start, size)`.
A parser raises `Cut` when the data ends inside the header, `Bad` where Pillow would refuse the file,
and `AskPillow` for a structure left to Pillow. See `mmtok.vision.headers` for the rules they share.
"""

from __future__ import annotations

import re
import struct
import zlib

from . import exif as _exif

Parsed = tuple  # (format, width, height, orientation, mode_hint)


class Cut(Exception):
    """The data ends before the header does."""

    def __init__(self, source, need: int, what: str):
        super().__init__(f"header cut short after {source.length():,} bytes: the {what} needs {need:,}")


class Bad(Exception):
    """Pillow would refuse this file; the message says why."""


class AskPillow(Exception):
    """A structure left to Pillow. `size` is (width, height) when already known."""

    def __init__(self, size: tuple[int, int] | None = None):
        self.size = size


# --- PNG (PIL.PngImagePlugin) ---------------------------------------------------------------------

_PNG_MODES = {
    (1, 0): "1", (2, 0): "L", (4, 0): "L", (8, 0): "L", (16, 0): "I;16", (8, 2): "RGB", (16, 2): "RGB",
    (1, 3): "P", (2, 3): "P", (4, 3): "P", (8, 3): "P", (8, 4): "LA", (16, 4): "RGBA", (8, 6): "RGBA",
    (16, 6): "RGBA",
}  # fmt: skip
_PNG_MIN_LENGTH = {b"gAMA": 4, b"cHRM": 32, b"sRGB": 1, b"pHYs": 9}
_is_chunk_type = re.compile(rb"\w\w\w\w").match


def read_png(source) -> Parsed:
    head, at = source.head, source.at
    limit = len(head)
    pos = 8
    size = mode = None
    info: dict[str, bytes | str] = {}  # the parts of Pillow's `info` the orientation depends on
    while True:
        b = head[pos : pos + 8] if pos + 8 <= limit else at(pos, 8)
        if len(b) < 8:
            raise Cut(source, pos + 8, "PNG chunk header")
        length, kind = struct.unpack(">I4s", b)
        if not _is_chunk_type(kind):
            raise Bad(f"broken PNG file (chunk {kind!r} at byte {pos:,})")
        if kind == b"IDAT" or kind == b"IEND":
            break
        if kind in (b"acTL", b"fcTL", b"fdAT"):
            raise AskPillow  # an animated PNG
        end = pos + 12 + length
        body = head[pos + 8 : end] if end <= limit else at(pos + 8, length + 4)
        if len(body) < length + 4:
            raise Cut(source, end, f"PNG {kind.decode()} chunk")
        data = body[:length]
        if kind == b"IHDR":
            if length < 13:
                raise Bad("IHDR chunk too short")
            size = struct.unpack_from(">II", data)
            mode = _PNG_MODES.get((data[8], data[9]), mode)
            if data[11]:
                raise Bad("unknown filter method")
        elif kind == b"tRNS":
            if length < (6 if mode == "RGB" else 2 if mode in ("1", "L", "I;16") else 0):
                raise Bad("tRNS chunk too short")
        elif kind in _PNG_MIN_LENGTH:
            if length < _PNG_MIN_LENGTH[kind]:
                raise Bad(f"{kind.decode()} chunk too short")
        elif kind == b"iCCP":
            i = data.find(b"\x00") + 1
            if i >= length or data[i] != 0:
                raise Bad("iCCP chunk without a known compression method")
        elif kind in _exif.PNG_METADATA:
            try:
                _exif.png_metadata(kind, data, info)
            except ValueError as e:
                raise Bad(str(e)) from None
        if zlib.crc32(data, zlib.crc32(kind)) != int.from_bytes(body[length:], "big"):
            raise Bad(f"broken PNG file (bad checksum in the {kind.decode()} chunk)")
        pos += 12 + length
    if size is None:
        raise Bad("no IHDR chunk before the image data")
    if mode is None:
        raise Bad("unsupported bit depth and colour type")
    if kind == b"IDAT":
        _png_trailer(source, pos, b, info)
    return ("PNG", size[0], size[1], _exif.png_orientation(info) if info else 1, mode)


def _png_trailer(source, pos: int, b: bytes, info: dict) -> None:
    """The chunks from the first IDAT (header `b` at `pos`) on, which Pillow reads when it loads the
    image, as exif_transpose does first."""
    at = source.at
    while len(b) == 8:
        length, kind = struct.unpack(">I4s", b)
        if kind == b"IEND" or not _is_chunk_type(kind):
            return
        step = 12 + length
        if kind == b"IDAT":
            following = at(pos + step, 8)
            if following == b:  # a run of equal chunks, as encoders write them
                pos = _after_chunk_run(source, pos, b, step)
                b = at(pos, 8)
            else:
                pos, b = pos + step, following
            continue
        if kind in _exif.PNG_METADATA:
            data = at(pos + 8, length)
            if len(data) < length:
                return
            try:
                _exif.png_metadata(kind, data, info)
            except ValueError:
                return
        pos += step
        b = at(pos, 8)


def _after_chunk_run(source, pos: int, header: bytes, step: int) -> int:
    """The end of the run of chunks with this exact header (an encoder writes IDATs of one length).

    Gallops then bisects over chunk positions: O(log n) reads for n chunks, instead of n.
    """
    def same(k: int) -> bool:
        return source.peek(pos + k * step, 8) == header

    hi = 2  # the caller has seen that chunk 1 is the same
    while same(hi):
        hi *= 2
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if same(mid):
            lo = mid
        else:
            hi = mid
    return pos + hi * step


# --- GIF (PIL.GifImagePlugin) ---------------------------------------------------------------------


def read_gif(source) -> Parsed:
    at = source.at
    head = at(0, 13)
    if len(head) < 13:
        raise Cut(source, 13, "GIF screen descriptor")
    width, height, flags = struct.unpack_from("<HHB", head, 6)
    pos = 13 + (3 << (flags & 7) + 1 if flags & 0x80 else 0)  # global palette

    def block(p: int) -> tuple[int, bytes | None]:
        """Pillow's `data()`: one sub-block, or None for the terminator."""
        n = at(p, 1)
        if not n:
            raise Cut(source, p + 1, "GIF extension block")
        if not n[0]:
            return p + 1, None
        data = at(p + 1, n[0])
        if len(data) < n[0]:
            raise Cut(source, p + 1 + n[0], "GIF extension block")
        return p + 1 + n[0], data

    while True:
        b = at(pos, 1)
        if not b:
            raise Cut(source, pos + 1, "GIF header (no image descriptor yet)")
        if b == b";":
            raise Bad("the GIF has no image")
        if b == b"!":
            label = at(pos + 1, 1)
            if not label:
                raise Cut(source, pos + 2, "GIF extension")
            pos, data = block(pos + 2)
            if label[0] == 0xF9 and data is not None and (len(data) < 3 or (data[0] & 1 and len(data) < 4)):
                raise Bad("graphic control extension too short")
            if label[0] == 0xFE:  # comment: sub-blocks up to the terminator
                while data:
                    pos, data = block(pos)
                continue
            if label[0] == 0xFF and data is not None and data.startswith(b"NETSCAPE2.0"):
                pos, _ = block(pos)  # Pillow reads the loop count block before skipping the rest
            while True:  # as Pillow, even when the first block was the terminator
                pos, data = block(pos)
                if not data:
                    break
        elif b == b",":
            d = at(pos + 1, 9)
            if len(d) < 9:
                raise Cut(source, pos + 10, "GIF image descriptor")
            x0, y0, w, h, frame_flags = struct.unpack("<HHHHB", d)
            palette = 3 << (frame_flags & 7) + 1 if frame_flags & 0x80 else 0
            source.need(pos + 11 + palette, "GIF image descriptor")
            return ("GIF", max(width, x0 + w), max(height, y0 + h))
        else:
            pos += 1  # Pillow skips stray bytes


# --- BMP (PIL.BmpImagePlugin) ---------------------------------------------------------------------

_BMP_MODES = {1: "P", 4: "P", 8: "P", 16: "RGB", 24: "RGB", 32: "RGB"}
_BMP_BITFIELDS = {
    32: {(0xFF0000, 0xFF00, 0xFF, 0x0), (0xFF000000, 0xFF0000, 0xFF00, 0x0), (0xFF000000, 0xFF00, 0xFF, 0x0),
         (0xFF000000, 0xFF0000, 0xFF00, 0xFF), (0xFF, 0xFF00, 0xFF0000, 0xFF000000),
         (0xFF0000, 0xFF00, 0xFF, 0xFF000000), (0xFF000000, 0xFF00, 0xFF, 0xFF0000), (0x0, 0x0, 0x0, 0x0)},
    24: {(0xFF0000, 0xFF00, 0xFF)},
    16: {(0xF800, 0x7E0, 0x1F), (0x7C00, 0x3E0, 0x1F)},
}  # fmt: skip


def read_bmp(source) -> Parsed:
    b = source.at(0, 18)
    if len(b) < 18:
        raise Cut(source, 18, "BMP file header")
    (header_size,) = struct.unpack_from("<I", b, 14)
    if header_size not in (12, 40, 52, 56, 64, 108, 124):
        raise Bad(f"unsupported BMP header size {header_size}")
    data = source.at(18, header_size - 4)
    if len(data) < header_size - 4:
        raise Cut(source, 14 + header_size, "BMP info header")
    if header_size == 12:
        width, height, _, bits = struct.unpack_from("<HHHH", data)
        compression = colors = 0
    else:
        width, height, _, bits, compression = struct.unpack_from("<IIHHI", data)
        (colors,) = struct.unpack_from("<I", data, 28)
        if data[7] == 0xFF:  # negative height: a top-down image
            height = 2**32 - height
    mode = _BMP_MODES.get(bits)
    if compression == 3:  # bitfields
        if len(data) >= 48:
            alpha = struct.unpack_from("<I", data, 48) if len(data) >= 52 else (0,)
            masks = struct.unpack_from("<III", data, 36) + alpha
        else:
            extra = source.at(14 + header_size, 12)
            if len(extra) < 12:
                raise Cut(source, 26 + header_size, "BMP colour masks")
            masks = struct.unpack("<III", extra) + (0,)
    if mode is None:
        raise Bad(f"unsupported BMP bit depth ({bits})")
    if compression == 3 and not (
        (bits == 32 and masks in _BMP_BITFIELDS[32]) or (bits in (24, 16) and masks[:3] in _BMP_BITFIELDS[bits])
    ):
        raise Bad("unsupported BMP bitfields layout")
    if compression not in (0, 1, 2, 3):
        raise Bad(f"unsupported BMP compression ({compression})")
    if mode == "P" and not 0 < (colors or 1 << bits) <= 65536:
        raise Bad(f"unsupported BMP palette size ({colors})")
    return ("BMP", width, height)


# --- WebP (PIL.WebPImagePlugin, which hands the file to libwebp's demuxer) -------------------------

_WEBP_MAX_PAYLOAD = 2**32 - 10  # libwebp's MAX_CHUNK_PAYLOAD


def read_webp(source) -> Parsed:
    at = source.at
    head = at(0, 30)
    (riff_size,) = struct.unpack_from("<I", head, 4)
    if not 8 <= riff_size <= _WEBP_MAX_PAYLOAD:
        raise Bad("bad RIFF size")
    end = riff_size + 8
    source.need(end, "WebP RIFF data")
    if head[12:16] != b"VP8X":  # simple format: one VP8 or VP8L bitstream
        _, image, alpha = _webp_frame(source, 12, end)
        return ("WEBP", image[0], image[1], 1, "RGBA" if alpha else "RGB")

    n = _webp_chunk(source, 12, end)
    if n < 10 or len(head) < 30:
        raise Bad("VP8X chunk too short")
    flags = head[20]
    if flags & 0xC1:
        raise Bad("reserved VP8X flags set")
    width = 1 + int.from_bytes(head[24:27], "little")
    height = 1 + int.from_bytes(head[27:30], "little")
    if width * height >= 2**32:
        raise Bad("canvas too large")
    animated = flags & 0x02
    still = exif = xmp = None
    frames, animation_chunk = 0, False
    pos = 20 + n + (n & 1)
    while pos < end:
        if end - pos < 8:
            raise Bad("RIFF data ends inside a chunk header")
        kind = at(pos, 4)
        n = _webp_chunk(source, pos, end)
        if kind == b"VP8X":
            raise Bad("a second VP8X chunk")
        if kind in (b"ALPH", b"VP8 ", b"VP8L"):
            if animated or frames or still is not None:
                raise Bad("an image outside the animation frames" if animated else "more than one image")
            pos, still, _ = _webp_frame(source, pos, end)
            continue
        if kind == b"ANMF":  # libwebp reads the frame's image chunks and goes on after them
            if not animation_chunk:
                raise Bad("an ANMF chunk before the ANIM chunk")
            if n + (n & 1) < 16:
                raise Bad("ANMF chunk too short")
            offsets = at(pos + 8, 6)
            after, image, _ = _webp_frame(source, pos + 24, end, optional=True)
            if after - (pos + 24) > n + (n & 1) - 16:
                raise Bad("an animation frame runs past its ANMF chunk")
            if animated and image is not None:
                x, y = 2 * int.from_bytes(offsets[:3], "little"), 2 * int.from_bytes(offsets[3:], "little")
                if x + image[0] > width or y + image[1] > height:
                    raise Bad("animation frame outside the canvas")
                frames += 1
            pos = after
            continue
        if kind == b"ANIM":
            if n + (n & 1) < 6:
                raise Bad("ANIM chunk too short")
            animation_chunk = True
        if kind == b"EXIF" and flags & 0x08 and exif is None:
            exif = (pos + 8, n)
        elif kind == b"XMP " and flags & 0x04 and xmp is None:
            xmp = (pos + 8, n)
        pos += 8 + n + (n & 1)
    if not (frames if animated else still):
        raise Bad("no image in the WebP file")
    if not animated and still != (width, height):
        raise Bad("the image is not the size of the canvas")
    value = _exif.exif_orientation(source.window(*exif), exif[1]) if exif else None
    packet = at(*xmp) if value is None and xmp else None
    return ("WEBP", width, height, _exif.resolve(value, packet), "RGBA" if flags & 0x10 else "RGB")


def _webp_frame(source, pos: int, end: int, optional: bool = False):
    """libwebp's StoreFrame: an optional ALPH chunk and a VP8 or VP8L bitstream, read from `pos` up
    to the first other chunk (whose size must still fit). Returns (position after them, (width,
    height) of the bitstream or None, whether a VP8L bitstream has alpha)."""
    image = alpha = None
    vp8l_alpha = False
    while pos < end:
        if end - pos < 8:
            raise Bad("RIFF data ends inside a chunk header")
        kind = source.at(pos, 4)
        n = _webp_chunk(source, pos, end)
        if kind == b"ALPH" and alpha is None:
            alpha = True
        elif kind in (b"VP8 ", b"VP8L") and image is None:
            if kind == b"VP8L" and alpha:
                raise Bad("an ALPH chunk before a lossless bitstream")
            width, height, vp8l_alpha = _webp_bitstream(kind, source.at(pos + 8, min(n, 10)), n)
            image = (width, height)
        else:
            break
        pos += 8 + n + (n & 1)
    if image is None and (alpha or not optional):
        raise Bad("a WebP frame without an image")
    return pos, image, vp8l_alpha


def _webp_chunk(source, pos: int, end: int) -> int:
    """The payload size of the chunk at `pos`, which must fit in the RIFF data."""
    (n,) = struct.unpack("<I", source.at(pos + 4, 4))
    if n > _WEBP_MAX_PAYLOAD or pos + 8 + n + (n & 1) > end:
        raise Bad("a chunk runs past the end of the RIFF data")
    return n


def _webp_bitstream(kind: bytes, d: bytes, n: int) -> tuple[int, int, bool]:
    """(width, height, has alpha) from a VP8 or VP8L bitstream header, checked as libwebp does."""
    if kind == b"VP8 ":
        if len(d) < 10 or d[3:6] != b"\x9d\x01\x2a":
            raise Bad("bad VP8 bitstream header")
        bits = d[0] | d[1] << 8 | d[2] << 16
        if bits & 1 or (bits >> 1) & 7 > 3 or not (bits >> 4) & 1 or bits >> 5 >= n:
            raise Bad("bad VP8 frame header")
        return (d[6] | d[7] << 8) & 0x3FFF, (d[8] | d[9] << 8) & 0x3FFF, False
    if len(d) < 5 or d[0] != 0x2F or d[4] >> 5:
        raise Bad("bad VP8L bitstream header")
    bits = int.from_bytes(d[1:5], "little")
    return (bits & 0x3FFF) + 1, (bits >> 14 & 0x3FFF) + 1, bool(bits >> 28 & 1)


# --- TIFF (PIL.TiffImagePlugin) -------------------------------------------------------------------

_TIFF_TAGS = frozenset(
    (256, 257, 258, 259, 262, 266, 273, 274, 277, 278, 282, 283, 284, 296, 320, 322, 323, 324, 338, 339, 700, 0xBC01)
)
_TIFF_NUMBERS = _exif.INTEGER_TYPES | {5, 10, 11, 12}  # what Pillow can do arithmetic with
_TIFF_COMPRESSIONS = frozenset((1, 2, 3, 4, 5, 6, 7, 8, 32771, 32773, 32809, 32946, 34676, 34677, 34925, 50000, 50001))


def _tiff_layouts() -> frozenset:
    """Pixel layouts read here: a subset of Pillow's OPEN_INFO (a test checks it). Others go to Pillow.

    Keys are Pillow's: (byte order, photometric, sample format, fill order, bits per sample, extra samples).
    """
    layouts = [
        (0, (1,), ()), (1, (1,), ()), (0, (8,), ()), (1, (8,), ()), (1, (8, 8), (2,)),
        (2, (8, 8, 8), ()), (2, (8, 8, 8, 8), (0,)), (2, (8, 8, 8, 8), (1,)), (2, (8, 8, 8, 8), (2,)),
        (3, (1,), ()), (3, (2,), ()), (3, (4,), ()), (3, (8,), ()), (5, (8, 8, 8, 8), ()), (6, (8, 8, 8), ()),
        (1, (16,), ()),
    ]  # fmt: skip
    return frozenset((order, photo, (1,), 1, bits, extra) for order in (b"II", b"MM") for photo, bits, extra in layouts)


_TIFF_LAYOUTS = _tiff_layouts()


def read_tiff(source) -> Parsed:
    head = source.at(0, 8)
    if len(head) < 8:
        raise Cut(source, 8, "TIFF header")
    if head[2] == 0x2B:
        raise AskPillow  # BigTIFF
    order = head[:2]
    endian = ">" if order == b"MM" else "<"
    (first,) = struct.unpack(endian + "L", head[4:8])
    if not first:
        raise Bad("the TIFF has no image directory")
    tags = _exif.read_ifd(source.at, first, source.length(), endian, _TIFF_TAGS)

    def get(tag: int, default=None, one: bool = True):
        entry = tags.get(tag)
        if entry is None:
            return default
        if entry[0] not in _exif.INTEGER_TYPES:
            raise AskPillow
        value = _exif.values(entry, endian)
        return value[0] if one else value

    width, height = get(256), get(257)
    if width is None or height is None:
        count = source.at(first, 2)
        entries = struct.unpack(endian + "H", count)[0] if len(count) == 2 else 0
        source.need(first + 2 + 12 * entries, "TIFF directory")
    compression = get(259, 1)
    planar = get(284, 1)
    if width is None or height is None or 0xBC01 in tags or compression not in _TIFF_COMPRESSIONS or planar != 1:
        raise AskPillow
    photo = 6 if compression == 6 else get(262, 0)
    sample_format = get(339, (1,), one=False)
    if len(sample_format) > 1 and max(sample_format) == min(sample_format):
        sample_format = sample_format[:1]
    bits, extra = get(258, (1,), one=False), get(338, (), one=False)
    samples = get(277, 3 if compression == 6 and photo in (2, 6) else 1)
    if not 0 < samples <= 4:
        raise AskPillow
    if samples < len(bits):
        bits = bits[:samples]
    elif samples > len(bits) == 1:
        bits = bits * samples
    layout = (order, photo, sample_format, get(266, 1), bits, extra)
    if (
        layout not in _TIFF_LAYOUTS
        or (photo == 3 and 320 not in tags)
        or (compression == 1 and get(273) is None and (get(324) is None or get(322) is None or get(323) is None))
        or (compression == 1 and get(278) is None and 278 in tags)
        or any(tags[tag][0] not in _TIFF_NUMBERS for tag in (282, 283, 296) if tag in tags)
    ):
        raise AskPillow  # Pillow may refuse it, or read it: let it say
    xmp = None
    if 700 in tags:
        if tags[700][0] not in (1, 7):
            raise AskPillow
        xmp = tags[700][2]
    value = _exif.transposing(_exif.values(tags[274], endian)) if 274 in tags else None
    return ("TIFF", width, height, _exif.resolve(value, xmp))
