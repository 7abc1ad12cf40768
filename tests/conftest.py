"""Shared fixtures: the reference implementations, built offline, and real sample photos."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

REFERENCE_DIR = Path(__file__).parent / "reference"
QWEN2_VL_LIMITS = {"min_pixels": 3136, "max_pixels": 12845056}  # Qwen2-VL checkpoint preprocessor_config.json

warnings.filterwarnings("ignore", message=".*PyTorch was not found.*")


# The image processor settings of each model's published checkpoint (preprocessor_config.json).
REFERENCE_IMAGE_KWARGS = {
    "qwen2-vl": dict(QWEN2_VL_LIMITS),
    "qwen2.5-vl": dict(QWEN2_VL_LIMITS),
    "qwen3-vl": {
        "patch_size": 16,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
        "size": {"shortest_edge": 65536, "longest_edge": 16777216},
    },
}
REFERENCE_PROCESSORS = {"qwen2-vl": "Qwen2VLProcessor", "qwen2.5-vl": "Qwen2_5_VLProcessor", "qwen3-vl": "Qwen3VLProcessor"}
REFERENCE_TEMPLATES = {"qwen2-vl": "qwen2_vl", "qwen2.5-vl": "qwen2_vl", "qwen3-vl": "qwen3_vl"}
QWEN_MODELS = tuple(REFERENCE_IMAGE_KWARGS)


def reference_image_processor(model: str = "qwen2-vl", **limits):
    """transformers' Qwen2-VL PIL/numpy image processor (needs neither torch nor torchvision), set up as
    `model`'s checkpoint; `limits` (min_pixels, max_pixels) override the checkpoint's."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    kwargs = {k: (dict(v) if isinstance(v, dict) else v) for k, v in REFERENCE_IMAGE_KWARGS[model].items()}
    if limits:
        kwargs.pop("size", None)
        kwargs.pop("min_pixels", None), kwargs.pop("max_pixels", None)
        kwargs["size"] = {"shortest_edge": limits["min_pixels"], "longest_edge": limits["max_pixels"]}
    return Qwen2VLImageProcessorPil(**kwargs)


@pytest.fixture(scope="session")
def ref_image_processor():
    return reference_image_processor()


@pytest.fixture(scope="session")
def ref_qwen_tokenizer_file(tmp_path_factory) -> Path:
    """A Hugging Face tokenizer.json rebuilt from qwen.tiktoken with the `tokenizers` library.

    An independent BPE engine: merges are recovered from the ranks (karpathy/minbpe's recover_merges),
    with Qwen2's tokenizer.json normalizer (NFC), pre-tokenizer (Split on Qwen's regex + ByteLevel)
    and its special tokens in order.
    """
    from reference_tokenizers import build_qwen2_tokenizer_json

    path = tmp_path_factory.mktemp("qwen2") / "tokenizer.json"
    build_qwen2_tokenizer_json(path)
    return path


def build_reference_processor(model: str, tokenizer_file: Path):
    """transformers' processor for `model` with the checkpoint's image settings and chat template."""
    import transformers
    from transformers import PreTrainedTokenizerFast

    base = getattr(transformers, REFERENCE_PROCESSORS[model])

    class Offline(base):
        # The processors check each attribute's class through the auto mappings, and the video
        # mapping needs torchvision. We pass no video processor, so skip that check only.
        def check_argument_for_proper_class(self, name, arg):
            return arg

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file), eos_token="<|im_end|>", pad_token="<|endoftext|>")
    template = (REFERENCE_DIR / f"{REFERENCE_TEMPLATES[model]}_chat_template.jinja").read_text()
    return Offline(image_processor=reference_image_processor(model), tokenizer=tokenizer, video_processor=None, chat_template=template)


@pytest.fixture(scope="session")
def ref_processors(ref_qwen_tokenizer_file):
    """model name -> transformers' processor for it (built lazily)."""
    cache = {}

    def get(model):
        if model not in cache:
            cache[model] = build_reference_processor(model, ref_qwen_tokenizer_file)
        return cache[model]

    return get


@pytest.fixture(scope="session")
def ref_qwen2vl_processor(ref_processors):
    return ref_processors("qwen2-vl")


def _skimage_photos():
    from skimage import data

    names = ["astronaut", "chelsea", "coffee", "rocket", "camera", "hubble_deep_field", "immunohistochemistry"]
    out = []
    for name in names:
        array = getattr(data, name)()
        out.append((name, np.ascontiguousarray(array)))
    return out


@pytest.fixture(scope="session")
def photos():
    """(name, uint8 array) pairs: scikit-image's sample photos (they ship inside the wheel)."""
    return _skimage_photos()


@pytest.fixture(scope="session")
def photo_files(tmp_path_factory, photos):
    """The sample photos written as JPEG and PNG files."""
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    paths = []
    for name, array in photos:
        image = Image.fromarray(array)
        for ext in ("jpg", "png"):
            path = root / f"{name}.{ext}"
            image.save(path, quality=90) if ext == "jpg" else image.save(path)
            paths.append(path)
    return paths
