"""TIFF image file directories, the EXIF orientation and XMP's tiff:Orientation, as Pillow reads them.

Follows Pillow 13's `TiffImagePlugin.ImageFileDirectory_v2.load`, `Image.Exif.load` and
`Image.Image.getexif`, because the contract of `mmtok.vision.headers` is agreement with
`PIL.ImageOps.exif_transpose`. The rules that decide an orientation, all taken from Pillow:

* the first *stored* entry of a tag wins; entries of an unknown type or with no data are not stored;
* out-of-line data is budgeted: once the running total passes the stream size the entry is skipped,
  and data that runs past the end of the stream stops the whole directory (Pillow's OSError path);
* Orientation is a one-value tag, so a count above one keeps the first value; a BYTE, UNDEFINED or
  ASCII value is stored but never transposes, while a FLOAT or RATIONAL equal to 2..8 does;
* without an Orientation tag in the EXIF, Pillow falls back to the first `tiff:Orientation` digit
  in the image's XMP packet.

PNG keeps EXIF and XMP in chunks (eXIf, and tEXt/zTXt/iTXt keyed "Raw profile type exif" or
"XML:com.adobe.xmp"); their handlers are here too. Nothing here imports Pillow.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Callable

ORIENTATION = 0x0112
#: the first four bytes a TIFF header (and so an EXIF block) may start with, as Pillow accepts them
TIFF_PREFIXES = (b"MM\x00\x2a", b"II\x2a\x00", b"MM\x2a\x00", b"II\x00\x2a", b"MM\x00\x2b", b"II\x2b\x00")
#: bytes per value of each TIFF type Pillow can load; entries of any other type are skipped
_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}
_NUMBER_FORMAT = {3: "H", 4: "L", 6: "b", 8: "h", 9: "l", 11: "f", 12: "d", 13: "L", 16: "Q"}
INTEGER_TYPES = frozenset((3, 4, 6, 8, 9, 13, 16))
_TRANSPOSING = {value: value for value in range(2, 9)}
_XMP_BYTES = re.compile(rb'tiff:Orientation(="|>)([0-9])')
_XMP_STR = re.compile(r'tiff:Orientation(="|>)([0-9])')

Reader = Callable[[int, int], bytes]  # (offset, count) -> at most `count` bytes


def read_ifd(read: Reader, offset: int, stream_size: int, endian: str, wanted: frozenset[int]) -> dict:
    """`{tag: (type, count, data)}` for the `wanted` tags Pillow would store from the IFD at `offset`.

    `read` reads the stream (offsets are relative to it) and `stream_size` is its length. Stops as
    soon as every wanted tag is stored: later duplicates cannot replace them.
    """
    head = read(offset, 2)
    if len(head) < 2:
        return {}
    (count,) = struct.unpack(endian + "H", head)
    entries = read(offset + 2, 12 * count)
    entry = struct.Struct(endian + "HHL4s")
    pointer = struct.Struct(endian + "L")
    stored: set[int] = set()
    found: dict[int, tuple[int, int, bytes]] = {}
    total = 0
    for i in range(min(count, len(entries) // 12)):  # a short read ends the directory (Pillow: OSError)
        tag, typ, n, inline = entry.unpack_from(entries, 12 * i)
        if tag in stored:
            continue
        unit = _UNIT.get(typ)
        if unit is None:
            continue
        size = n * unit
        if size > 4:
            (where,) = pointer.unpack(inline)
            total += size
            if total > stream_size:
                continue  # "Tag data larger than file. Skipping tag"
            if where + size > stream_size:
                break  # Pillow's _safe_read raises, and the rest of the directory is lost
            data = read(where, size) if tag in wanted else b""
        else:
            data = inline[:size]
        if size == 0:
            continue
        stored.add(tag)
        if tag in wanted:
            found[tag] = (typ, n, data)
            if len(found) == len(wanted):
                break
    return found


def values(entry: tuple[int, int, bytes], endian: str):
    """The value Pillow stores for an entry: a tuple of numbers, or bytes (BYTE, UNDEFINED) or str (ASCII)."""
    typ, n, data = entry
    if typ in (1, 7):
        return data
    if typ == 2:
        return data[:-1].decode("latin-1") if data.endswith(b"\0") else data.decode("latin-1")
    if typ in (5, 10):
        pairs = struct.unpack(f"{endian}{2 * n}{'L' if typ == 5 else 'l'}", data)
        return tuple((a, b) for a, b in zip(pairs[::2], pairs[1::2]))
    return struct.unpack(f"{endian}{n}{_NUMBER_FORMAT[typ]}", data)


def transposing(value) -> int:
    """The orientation `exif_transpose` acts on for a stored Orientation value: 2..8, else 1.

    exif_transpose looks the value up in a dict keyed 2..8, so 6.0 and the rational 6/1 transpose
    like 6, while 0, 9, "6" and b"\\x06" do nothing. The same lookup is done here.
    """
    if isinstance(value, tuple):  # one-value tag: Pillow keeps the first value
        value = value[0] if value else None
        if isinstance(value, tuple):  # rational (numerator, denominator), Pillow's IFDRational
            from fractions import Fraction  # rare: only a RATIONAL orientation gets here

            num, den = value
            value = Fraction(num, den) if den else None
    try:
        return _TRANSPOSING.get(value, 1)
    except TypeError:  # unhashable
        return 1


def exif_orientation(read: Reader, size: int) -> int | None:
    """The Orientation Pillow's `Exif.load` finds in an EXIF block, or None when it finds no tag.

    The block is read through `read` (offsets relative to its start, `size` bytes long); it may
    start with one or two "Exif\\0\\0" prefixes, as in a JPEG APP1 segment.
    """
    start = 0
    for _ in range(2):
        if read(start, 6) == b"Exif\x00\x00":
            start += 6
    size -= start
    head = read(start, 8)
    if size <= 0 or len(head) < 8 or not head.startswith(TIFF_PREFIXES) or head[2] == 0x2B:
        return None  # Pillow finds no tags (or raises, which exif_transpose would pass on)
    endian = ">" if head[:2] == b"MM" else "<"
    (first,) = struct.unpack(endian + "L", head[4:8])

    def read_block(offset: int, count: int) -> bytes:
        return read(start + offset, max(0, min(count, size - offset)))

    found = read_ifd(read_block, first, size, endian, frozenset((ORIENTATION,)))
    if ORIENTATION not in found:
        return None
    return transposing(values(found[ORIENTATION], endian))


def xmp_orientation(xmp: bytes | str | None) -> int | None:
    """Pillow's fallback when the EXIF has no Orientation: the first tiff:Orientation digit in XMP."""
    if not xmp:
        return None
    match = (_XMP_STR if isinstance(xmp, str) else _XMP_BYTES).search(xmp)
    return int(match[2]) if match else None


def resolve(exif_value: int | None, xmp: bytes | str | None) -> int:
    """The orientation exif_transpose applies, 1..8: EXIF's tag if present, else XMP's, else 1.

    `exif_value` is `exif_orientation`'s answer; `xmp` is the packet (read only when it matters).
    """
    if exif_value is not None:
        return exif_value
    return transposing(xmp_orientation(xmp))


# --- PNG metadata chunks (PngImagePlugin) -------------------------------------------------------

PNG_METADATA = frozenset((b"eXIf", b"tEXt", b"zTXt", b"iTXt"))
_PNG_TEXT_KEYS = frozenset((b"exif", b"Raw profile type exif", b"XML:com.adobe.xmp"))
_PNG_TEXT_LIMIT = 1024 * 1024  # PngImagePlugin.MAX_TEXT_CHUNK: a bigger inflated text is an error


def png_metadata(kind: bytes, data: bytes, info: dict) -> None:
    """Pillow's eXIf, tEXt, zTXt and iTXt handlers, for the `info` keys the orientation depends on.

    Raises ValueError where Pillow refuses the chunk (and so the file).
    """
    if kind == b"eXIf":
        info["exif"] = b"Exif\x00\x00" + data
        return
    key, _, value = data.partition(b"\x00")
    if kind == b"tEXt":
        if key in _PNG_TEXT_KEYS:
            info[key.decode("latin-1")] = value if key == b"exif" else value.decode("latin-1", "replace")
    elif kind == b"zTXt":
        if value and value[0] != 0:
            raise ValueError("unknown compression method in a zTXt chunk")
        if key in _PNG_TEXT_KEYS:
            info[key.decode("latin-1")] = _inflate(value[1:], b"").decode("latin-1", "replace")
    elif key in _PNG_TEXT_KEYS and len(value) >= 2:  # iTXt
        flag, method, rest = value[0], value[1], value[2:]
        parts = rest.split(b"\x00", 2)
        if len(parts) < 3:
            return
        language, translated, text = parts
        if flag:
            text = _inflate(text, None) if method == 0 else None
            if text is None:
                return
        if key == b"XML:com.adobe.xmp":
            info["xmp"] = text
        try:
            language.decode(), translated.decode()
            info[key.decode("latin-1")] = text.decode()
        except UnicodeError:
            pass


def _inflate(data: bytes, on_error):
    inflater = zlib.decompressobj()
    try:
        text = inflater.decompress(data, _PNG_TEXT_LIMIT)
    except zlib.error:
        return on_error
    if inflater.unconsumed_tail:
        raise ValueError("a compressed text chunk inflates past Pillow's limit")
    return text


def png_orientation(info: dict) -> int:
    """Pillow's getexif for a PNG: eXIf (or a text 'exif'), else 'Raw profile type exif', then XMP."""
    blob = info.get("exif")
    if blob is None and "Raw profile type exif" in info:
        try:
            blob = bytes.fromhex("".join(info["Raw profile type exif"].split("\n")[3:]))
        except ValueError:
            blob = None
    value = exif_orientation(bytes_reader(blob), len(blob)) if isinstance(blob, bytes) else None
    return resolve(value, info.get("XML:com.adobe.xmp") or info.get("xmp"))


def bytes_reader(blob: bytes):
    """A reader (offset, count) -> bytes over `blob`."""
    return lambda offset, count: blob[offset : offset + count]
