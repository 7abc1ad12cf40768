"""Image size and EXIF orientation from the file header alone: no pixel is decoded, Pillow is not imported.

Token counts depend only on an image's (height, width), so counting a million images must not decode
one. JPEG, PNG, GIF, BMP, WebP and TIFF headers are parsed in pure Python (JPEG here, the others in
`header_formats`, EXIF and XMP in `exif`), reading a first block of the file and then only the few
byte ranges the header walk needs: a JPEG's segments are stepped over, never read, unless they decide
the answer. Any other format, and the rare structures listed below, go to Pillow's lazy `Image.open`,
which also reads only the header.

The contract is agreement with Pillow 13, the library the pixel path decodes with, so each parser
follows its Pillow plugin rather than the format's specification where the two differ:

* JPEG (JpegImagePlugin): markers are walked to the start of scan, as Pillow does, so a later SOF, an
  EXIF segment after the SOF and the checks Pillow makes on the way (8-bit samples, 1/3/4 components,
  whole quantization tables) are all seen. A JPEG cut after its SOF but between segments still opens.
  A multi-picture (MPF) JPEG goes to Pillow, which may open it as an MPO.
* PNG (PngImagePlugin): every chunk before the image data is read and its CRC checked, as Pillow does.
  The orientation is read from eXIf, tEXt/zTXt "Raw profile type exif" and XMP chunks on *both* sides
  of the image data, because `exif_transpose` loads the image (reading the trailing chunks) before it
  reads the EXIF. Runs of equal-length IDAT chunks are skipped by galloping, not one by one.
  Animated PNGs go to Pillow.
* GIF: the size is the logical screen, grown to hold the first frame if that frame reaches past it.
* BMP: the core (12-byte) and info (40 to 124-byte) headers; a height whose top byte is 0xFF is a
  top-down image of height 2**32 - h. Bit depths, compressions and bitfield layouts Pillow cannot
  read are refused as Pillow refuses them.
* WebP: Pillow hands the whole file to libwebp's demuxer, which refuses a file shorter than its RIFF
  size or whose chunks do not tile the RIFF body; both are checked here from the chunk headers. The
  orientation comes from the EXIF (or XMP) chunk only when the VP8X flags announce it, as libwebp does.
* TIFF: the first directory, both byte orders. Pillow reports a TIFF's size already rotated for
  orientations 5 to 8 (and decodes it rotated); `width` and `height` here are always as stored.
  BigTIFF, planar or uncommon pixel layouts go to Pillow. (Opened from a path, Pillow memory-maps an
  uncompressed one-strip TIFF and gets the rotation wrong; `size` here is what it gives otherwise.)

The decompression-bomb limit mirrors Pillow's: see `MAX_IMAGE_PIXELS`.
"""

from __future__ import annotations

import os
import struct
import sys
from dataclasses import dataclass

from ..errors import (
    EmptyImageError,
    ImageNotFoundError,
    ImageTooLargeError,
    MissingDependencyError,
    NotAnImageError,
    TruncatedImageError,
    UnsupportedInputError,
)
from . import exif as _exif
from . import header_formats as _formats
from .header_formats import AskPillow, Bad, Cut

#: Pillow's default `PIL.Image.MAX_IMAGE_PIXELS` (1024 * 1024 * 1024 // 4 // 3). As in Pillow, an image
#: of more than twice this many pixels is refused (ImageTooLargeError), and None means no limit. Set it
#: to change mmtok's limit; while it keeps Pillow's default and Pillow is imported, Pillow's current
#: value is used instead, so raising the limit in Pillow raises it here too.
MAX_IMAGE_PIXELS: int | None = 89_478_485
_PILLOW_DEFAULT_MAX_IMAGE_PIXELS = 89_478_485

_HEAD = 4096  # first read: holds the whole header of nearly every JPEG (without EXIF), PNG, GIF and WebP
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
_TRANSPOSED = frozenset((5, 6, 7, 8))  # exif_transpose's TRANSPOSE, ROTATE_270, TRANSVERSE, ROTATE_90


@dataclass(frozen=True, slots=True)
class ImageHeader:
    """What the header of an image file says. Sizes are (height, width), as everywhere in mmtok."""

    format: str  #: Pillow's `Image.format`: "JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", ...
    width: int  #: as stored in the file, before any EXIF rotation
    height: int
    orientation: int = 1  #: EXIF orientation 1..8 that exif_transpose applies (1 when absent or invalid)
    mode_hint: str | None = None  #: Pillow's `Image.mode` where the header alone decides it, else None

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) after `PIL.ImageOps.exif_transpose`: orientations 5 to 8 swap the sides."""
        if self.orientation in _TRANSPOSED:
            return self.width, self.height
        return self.height, self.width

    @property
    def stored_size(self) -> tuple[int, int]:
        """(height, width) as stored in the file."""
        return self.height, self.width


def read_header(source: str | os.PathLike | bytes, *, name: str | None = None) -> ImageHeader:
    """Read an image's format, size and EXIF orientation from its header, never decoding pixels.

    `source` is a path or the encoded bytes; `name` is what error messages call it (default: the
    path, or "<bytes>"). Raises ImageNotFoundError, NotAnImageError, TruncatedImageError,
    EmptyImageError or ImageTooLargeError.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return _parse(_Source(data, None, len(data)), name or "<bytes>", data)
    try:
        path = os.fspath(source)
    except TypeError:
        raise UnsupportedInputError("image header", source, "a path (str or os.PathLike) or bytes") from None
    if name is None:
        name = os.fsdecode(path)
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        raise ImageNotFoundError(name) from None
    except (OSError, ValueError) as e:  # ValueError: a NUL in the path
        raise NotAnImageError(name, f"cannot open it: {getattr(e, 'strerror', None) or e}") from None
    try:
        try:
            head = os.read(fd, _HEAD)
        except IsADirectoryError:
            raise NotAnImageError(name, "it is a directory") from None
        except OSError as e:
            raise NotAnImageError(name, f"cannot read it: {e.strerror or e}") from None
        source_ = _Source(head, fd, None) if len(head) == _HEAD else _Source(head, None, len(head))
        return _parse(source_, name, path)
    finally:
        os.close(fd)


def read_size(source: str | os.PathLike | bytes) -> tuple[int, int]:
    """(height, width) after EXIF orientation, from the header: `read_header(source).size`."""
    return read_header(source).size


# --- reading --------------------------------------------------------------------------------------


def _pread(fd: int, count: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, count, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows
    return os.read(fd, count)


class _Source:
    """The first block of a file (or all of a bytes input), and reads of any other byte range.

    A read past the first block fetches a whole block there and keeps it, so a header walk that
    jumps over a big segment (a JPEG's EXIF, say) continues from memory.
    """

    __slots__ = ("head", "fd", "_length", "_block", "_block_at")

    def __init__(self, head: bytes, fd: int | None, length: int | None):
        self.head, self.fd, self._length = head, fd, length  # fd is None once head holds everything
        self._block, self._block_at = b"", 0

    def length(self) -> int:
        if self._length is None:
            self._length = os.fstat(self.fd).st_size
        return self._length

    def at(self, offset: int, count: int) -> bytes:
        """Up to `count` bytes from `offset` (fewer at the end of the file)."""
        end = offset + count
        if end <= len(self.head) or self.fd is None:
            return self.head[offset:end]
        start = self._block_at
        if start <= offset and end <= start + len(self._block):
            return self._block[offset - start : end - start]
        if count > 65536:  # a corrupt length must not allocate gigabytes
            count = min(count, self.length() - offset)
            return _pread(self.fd, count, offset) if count > 0 else b""
        self._block, self._block_at = _pread(self.fd, max(count, _HEAD), offset), offset
        return self._block[:count]

    def peek(self, offset: int, count: int) -> bytes:
        """`at` for a small read far from the others (a probe): does not replace the kept block."""
        if offset + count <= len(self.head) or self.fd is None:
            return self.head[offset : offset + count]
        return _pread(self.fd, count, offset)

    def need(self, end: int, what: str) -> None:
        """Raise Cut unless the data reaches `end`."""
        if end > len(self.head) and (self.fd is None or end > self.length()):
            raise Cut(self, end, what)

    def window(self, start: int, size: int):
        """A reader of the `size` bytes from `start`, with offsets relative to `start`."""
        return lambda offset, count: self.at(start + offset, max(0, min(count, size - offset)))


def _parse(source: _Source, name: str, origin: str | bytes) -> ImageHeader:
    head = source.head
    try:
        if head[:3] == b"\xff\xd8\xff":
            header = ImageHeader(*_jpeg(source))
        elif head[:8] == b"\x89PNG\r\n\x1a\n":
            header = ImageHeader(*_formats.read_png(source))
        elif head[:4] == b"RIFF" and head[8:12] == b"WEBP" and head[12:16] in (b"VP8 ", b"VP8L", b"VP8X"):
            header = ImageHeader(*_formats.read_webp(source))
        elif head[:6] in (b"GIF87a", b"GIF89a"):
            header = ImageHeader(*_formats.read_gif(source))
        elif head[:2] == b"BM":
            header = ImageHeader(*_formats.read_bmp(source))
        elif head[:4] in _exif.TIFF_PREFIXES:
            header = ImageHeader(*_formats.read_tiff(source))
        elif not head:
            raise NotAnImageError(name, "the file is empty")
        else:
            header = _pillow(origin, name)
    except Cut as e:
        raise TruncatedImageError(name, str(e)) from None
    except Bad as e:
        raise NotAnImageError(name, str(e)) from None
    except AskPillow as e:
        header = _pillow(origin, name, e.size)
    return _checked(header, name)


def _pixel_threshold() -> int | None:
    """Pixels above which Pillow raises DecompressionBombError: 2 * MAX_IMAGE_PIXELS, or None."""
    limit = MAX_IMAGE_PIXELS
    if limit == _PILLOW_DEFAULT_MAX_IMAGE_PIXELS:
        pil = sys.modules.get("PIL.Image")
        if pil is not None:
            limit = getattr(pil, "MAX_IMAGE_PIXELS", limit)
    return None if limit is None else 2 * limit


def _checked(header: ImageHeader, name: str) -> ImageHeader:
    width, height = header.width, header.height
    if width <= 0 or height <= 0:
        raise EmptyImageError(name, (height, width))
    threshold = _pixel_threshold()
    if threshold is not None and width * height > threshold:
        raise ImageTooLargeError(name, (height, width), threshold)
    return header


# --- JPEG (PIL.JpegImagePlugin) -------------------------------------------------------------------

_JPEG_NO_LENGTH = frozenset((0xC8, *range(0xD0, 0xDA), *range(0xF0, 0xFE)))  # JPG, RSTn, SOI, EOI, JPGn
_JPEG_SOF = frozenset((*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), *range(0xCD, 0xD0), 0xDE))
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}
_XMP_PREFIX = b"http://ns.adobe.com/xap/1.0/\x00"
_JPEG_MARKER = struct.Struct(">BBH")  # 0xFF, marker, segment length


def _jpeg(source: _Source) -> tuple:
    head, at = source.head, source.at
    limit = len(head)
    pos = 2  # the third byte, 0xFF, as Pillow starts
    size = mode = xmp = None
    exif_segments: list[tuple[int, int]] = []
    icc: list[bytes] = []  # heads of the ICC_PROFILE segments since the last SOF
    multi_picture = ended = False
    while True:
        if pos + 4 <= limit:
            ff, marker, n = _JPEG_MARKER.unpack_from(head, pos)
        else:
            b = at(pos, 4)
            if len(b) < 2:
                ended = True  # the file ends between segments: fine for Pillow once it has an SOF
                break
            ff, marker, n = b[0], b[1], (b[2] << 8 | b[3] if len(b) == 4 else -1)
        if ff != 0xFF:
            pos += 1  # Pillow skips stray bytes one by one
            continue
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x00 or marker in _JPEG_NO_LENGTH:
            pos += 2
            continue
        if marker < 0xC0:
            raise Bad(f"no JPEG marker at byte {pos:,}")
        if n < 0:
            raise Cut(source, pos + 4, "JPEG segment length")
        n -= 2
        start = pos + 4
        pos = start + n if n > 0 else start
        if pos > limit:
            source.need(pos, "JPEG segment")
        if marker == 0xC4 or marker == 0xFE:  # DHT, COM: nothing Pillow checks
            continue
        if marker in _JPEG_SOF:
            size, mode = _jpeg_sof(at(start, n) if n > 0 else b"", icc)
            icc = []
        elif marker == 0xDA:  # start of scan: the header is over
            break
        elif marker == 0xDB:
            _jpeg_dqt(at(start, n))
        elif 0xE0 <= marker <= 0xEF and n > 0:
            prefix = at(start, min(n, 32))
            if marker == 0xE1 and prefix.startswith(b"Exif\x00\x00"):
                exif_segments.append((start, n))
            elif marker == 0xE1 and prefix.startswith(_XMP_PREFIX):
                xmp = (start + len(_XMP_PREFIX), n - len(_XMP_PREFIX))  # the last one wins
            elif marker == 0xE2 and prefix.startswith(b"ICC_PROFILE\x00"):
                icc.append(prefix[:16])
            elif marker == 0xE2 and prefix.startswith(b"MPF\x00"):
                multi_picture = True
            elif marker == 0xED and prefix.startswith(b"Photoshop 3.0\x00"):
                _jpeg_photoshop(at(start, n))
            elif n < 7 and (
                (marker == 0xE0 and prefix.startswith(b"JFIF")) or (marker == 0xEE and prefix.startswith(b"Adobe"))
            ):
                raise Bad(f"APP{marker & 15} segment too short")
    if size is None:
        if ended:
            raise Cut(source, pos + 4, "JPEG header (no SOF marker yet)")
        raise Bad("no SOF marker before the image data")
    if multi_picture:
        raise AskPillow(size)  # Pillow decides between JPEG and MPO
    orientation = xmp_packet = None
    if exif_segments:
        if len(exif_segments) == 1:
            start, n = exif_segments[0]
            orientation = _exif.exif_orientation(source.window(start, n), n)
        else:  # Pillow joins them, dropping the later segments' "Exif\0\0"
            (start, n), *rest = exif_segments
            blob = at(start, n) + b"".join(at(s + 6, k - 6) for s, k in rest)
            orientation = _exif.exif_orientation(_exif.bytes_reader(blob), len(blob))
    if orientation is None and xmp is not None:
        xmp_packet = at(*xmp)
    return "JPEG", size[0], size[1], _exif.resolve(orientation, xmp_packet), mode


def _jpeg_sof(s: bytes, icc: list[bytes]) -> tuple[tuple[int, int], str]:
    if len(s) < 6:
        raise Bad("SOF segment too short")
    if s[0] != 8:
        raise Bad(f"{s[0]}-bit samples; Pillow reads 8-bit JPEGs only")
    mode = _JPEG_MODES.get(s[5])
    if mode is None:
        raise Bad(f"{s[5]} colour components; Pillow reads 1, 3 or 4")
    if icc and len(min(icc)) < 14:  # Pillow sorts the segments and reads byte 13 of the first
        raise Bad("broken ICC_PROFILE segment")
    if (len(s) - 6) % 3:
        raise Bad("SOF component list cut short")
    return (s[3] << 8 | s[4], s[1] << 8 | s[2]), mode


def _jpeg_dqt(s: bytes) -> None:
    i = 0
    while i < len(s):
        i += 65 if s[i] < 16 else 129  # 8- or 16-bit table
        if i > len(s):
            raise Bad("bad quantization table marker")


def _jpeg_photoshop(s: bytes) -> None:
    """Pillow's walk over Photoshop resource blocks: a cut block name is fatal, other damage is not."""
    offset = 14
    try:
        while s[offset : offset + 4] == b"8BIM":
            (code,) = struct.unpack_from(">H", s, offset + 4)
            offset += 6
            offset += 1 + s[offset]  # name length: IndexError when cut
            offset += offset & 1
            (size,) = struct.unpack_from(">I", s, offset)
            offset += 4
            if code == 0x03ED and len(s[offset : offset + size]) < 14:
                break  # ResolutionInfo cut short: Pillow stops here
            offset += size
            offset += offset & 1
    except struct.error:
        pass
    except IndexError:
        raise Bad("broken Photoshop resource block") from None


# --- anything else: Pillow's lazy open ------------------------------------------------------------


def _pillow(origin: str | bytes, name: str, known_size: tuple[int, int] | None = None) -> ImageHeader:
    """Pillow's own header read, for formats and structures not parsed above."""
    try:
        from PIL import Image
    except ImportError:
        raise MissingDependencyError("Pillow", f"reading the header of {name}") from None
    import io

    fp = io.BytesIO(origin) if isinstance(origin, bytes) else origin
    try:
        try:
            image = Image.open(fp)
        except Image.DecompressionBombError:
            image = _open_unchecked(fp, known_size)
    except FileNotFoundError:
        raise ImageNotFoundError(name) from None
    except Image.UnidentifiedImageError:
        raise NotAnImageError(name, "Pillow cannot identify it") from None
    except _TooLarge as e:
        if e.size is None:  # Pillow's plugin checks the size itself and does not say it
            raise NotAnImageError(name, f"Pillow refuses it as a possible decompression bomb ({e.message})") from None
        raise ImageTooLargeError(name, e.size, 2 * (Image.MAX_IMAGE_PIXELS or 0)) from None
    except OSError as e:
        if "runcated" in str(e):
            size = len(origin) if isinstance(origin, bytes) else os.path.getsize(origin)
            raise TruncatedImageError(name, f"header cut short after {size:,} bytes; Pillow: {e}") from None
        raise NotAnImageError(name, str(e)) from None
    except Exception as e:  # SyntaxError, ValueError, ... from a plugin
        raise NotAnImageError(name, f"{type(e).__name__}: {e}") from None
    with image:
        width, height = image.size
        if image.format == "TIFF" and image.tag_v2.get(_exif.ORIENTATION) in _TRANSPOSED:
            width, height = height, width  # Pillow reports a TIFF's size already rotated
        try:
            orientation = _exif.transposing(image.getexif().get(_exif.ORIENTATION, 1))
        except Exception:  # exif_transpose would raise too; the header itself is fine
            orientation = 1
        return ImageHeader(image.format or "", width, height, orientation, image.mode)


class _TooLarge(Exception):
    def __init__(self, size: tuple[int, int] | None, message: str = ""):
        self.size, self.message = size, message


def _open_unchecked(fp, known_size: tuple[int, int] | None):
    """Image.open without its decompression-bomb check, to learn the size of a refused image.

    Needed when mmtok's limit differs from Pillow's; changing Pillow's global limit instead would
    race with other threads.
    """
    import io

    from PIL import Image

    Image.init()
    if not isinstance(fp, io.BytesIO):
        with open(fp, "rb") as f:
            fp = io.BytesIO(f.read())
    fp.seek(0)
    prefix = fp.read(16)
    message = ""
    for format_ in Image.ID:
        factory, accept = Image.OPEN[format_]
        if accept is not None and accept(prefix) is not True:
            continue
        fp.seek(0)
        try:
            return factory(fp, "")
        except (SyntaxError, IndexError, TypeError, struct.error):
            continue
        except Image.DecompressionBombError as e:
            message = str(e)
            break
    raise _TooLarge((known_size[1], known_size[0]) if known_size else None, message)
