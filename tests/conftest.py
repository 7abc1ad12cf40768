"""Shared fixtures: the reference implementations, built offline, and real sample photos."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

REFERENCE_DIR = Path(__file__).parent / "reference"
QWEN2_VL_LIMITS = {"min_pixels": 3136, "max_pixels": 12845056}  # Qwen2-VL checkpoint preprocessor_config.json

warnings.filterwarnings("ignore", message=".*PyTorch was not found.*")


def reference_image_processor(**limits):
    """transformers' Qwen2-VL PIL/numpy image processor (needs neither torch nor torchvision)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    return Qwen2VLImageProcessorPil(**(limits or QWEN2_VL_LIMITS))


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


@pytest.fixture(scope="session")
def ref_qwen2vl_processor(ref_qwen_tokenizer_file):
    """transformers' Qwen2VLProcessor with the checkpoint's limits and chat template."""
    from transformers import PreTrainedTokenizerFast, Qwen2VLProcessor

    class OfflineQwen2VLProcessor(Qwen2VLProcessor):
        # Qwen2VLProcessor checks each attribute's class through the auto mappings, and the video
        # mapping needs torchvision. We pass no video processor, so skip that check only.
        def check_argument_for_proper_class(self, name, arg):
            return arg

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(ref_qwen_tokenizer_file), eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    template = (REFERENCE_DIR / "qwen2_vl_chat_template.jinja").read_text()
    return OfflineQwen2VLProcessor(
        image_processor=reference_image_processor(), tokenizer=tokenizer, video_processor=None, chat_template=template
    )


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
