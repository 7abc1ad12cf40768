"""Bad input: each problem is a typed error from one hierarchy, naming the input and the fix."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mmtok
from mmtok import errors


@pytest.fixture
def jpeg(tmp_path):
    path = tmp_path / "photo.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(path, quality=95)
    return path


def test_missing_file():
    proc = mmtok.get_processor("qwen2-vl")
    for call in (proc.plan, lambda p: proc.preprocess_images([p])):
        with pytest.raises(errors.ImageNotFoundError, match="nope.jpg: no such file"):
            call("nope.jpg")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("hello")
    proc = mmtok.get_processor("qwen2-vl")
    with pytest.raises(errors.NotAnImageError, match="notes.jpg: not a readable image"):
        proc.plan(str(path))
    with pytest.raises(errors.NotAnImageError):
        proc.preprocess_images([str(path)])


def test_header_cut_short(tmp_path, jpeg):
    path = tmp_path / "cut.jpg"
    path.write_bytes(jpeg.read_bytes()[:30])
    with pytest.raises((errors.TruncatedImageError, errors.NotAnImageError), match="cut.jpg"):
        mmtok.plan_image("qwen2-vl", str(path))


def test_truncated_pixel_data(tmp_path, jpeg):
    """The header is whole, so the plan works; decoding finds the missing pixels."""
    data = jpeg.read_bytes()
    path = tmp_path / "half.jpg"
    path.write_bytes(data[: len(data) // 2])
    assert mmtok.plan_image("qwen2-vl", str(path)).size == (300, 400)
    with pytest.raises(errors.TruncatedImageError, match="half.jpg: is truncated .*re-download"):
        mmtok.get_processor("qwen2-vl").preprocess_images([str(path)])


def test_zero_sized():
    with pytest.raises(errors.EmptyImageError, match="zero-sized"):
        mmtok.plan_image("qwen2-vl", (0, 5))
    with pytest.raises(errors.EmptyImageError):
        mmtok.get_processor("qwen2-vl").preprocess_images([np.zeros((0, 5, 3), np.uint8)])


def test_aspect_ratio(tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (402, 2)).save(path)
    for call in (lambda: mmtok.plan_image("qwen2-vl", str(path)), lambda: mmtok.get_processor("qwen2-vl").preprocess_images([str(path)])):
        with pytest.raises(errors.AspectRatioError, match=r"strip.png: aspect ratio 201.0 .*crop or pad"):
            call()


def test_decompression_bomb(tmp_path):
    """A PNG whose header claims more pixels than Pillow's bomb limit, for plans and for decoding."""
    import struct
    import zlib

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    path = tmp_path / "bomb.png"
    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(Image.DecompressionBombError):
        Image.open(path)  # Pillow's own verdict on this file
    with pytest.raises(errors.ImageTooLargeError, match="bomb.png: has 400,000,000 pixels"):
        mmtok.plan_image("qwen2-vl", str(path))
    with pytest.raises(errors.ImageTooLargeError):
        mmtok.get_processor("qwen2-vl").preprocess_images([str(path)])


def test_unsupported_inputs():
    proc = mmtok.get_processor("qwen2-vl")
    with pytest.raises(errors.UnsupportedInputError, match="uint8"):
        proc.preprocess_images([np.zeros((10, 10, 3), np.float32)])
    with pytest.raises(errors.UnsupportedInputError):
        proc.plan(12345)
    with pytest.raises(errors.MessageFormatError):
        proc({"role": "user", "content": "hi"})


def test_hierarchy():
    for cls in (errors.ImageNotFoundError, errors.NotAnImageError, errors.TruncatedImageError, errors.EmptyImageError,
                errors.AspectRatioError, errors.ImageTooLargeError, errors.UnknownNameError, errors.SpecialTokenError):
        assert issubclass(cls, errors.MmtokError)
