"""transformers 5.23's LLaVA-NeXT and LLaVA-OneVision processors, built offline with the published
checkpoints' settings, and what the tests of both families share."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# llava-hf/llava-v1.6-mistral-7b-hf preprocessor_config.json (research/families.md §2); the class
# defaults are 224, so size and crop_size must be given.
LLAVA_NEXT_IMAGE_KWARGS = {
    "size": {"shortest_edge": 336},
    "crop_size": {"height": 336, "width": 336},
    "image_grid_pinpoints": [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]],
    "resample": 3,  # bicubic
    "image_mean": [0.48145466, 0.4578275, 0.40821073],
    "image_std": [0.26862954, 0.26130258, 0.27577711],
}
# its processor_config.json
LLAVA_NEXT_PROCESSOR_KWARGS = {
    "patch_size": 14,
    "vision_feature_select_strategy": "default",
    "num_additional_image_tokens": 1,
}

# llava-hf/llava-onevision-qwen2-7b-ov-hf preprocessor_config.json (research/families.md §3): the
# SigLIP tower's mean/std replace the class's CLIP defaults; size and the 36 pinpoints are the class's.
LLAVA_ONEVISION_IMAGE_KWARGS = {
    "size": {"height": 384, "width": 384},
    "image_grid_pinpoints": [[384 * i, 384 * j] for i in range(1, 7) for j in range(1, 7)],
    "resample": 3,
    "image_mean": [0.5, 0.5, 0.5],
    "image_std": [0.5, 0.5, 0.5],
}
# its processor_config.json
LLAVA_ONEVISION_PROCESSOR_KWARGS = {
    "num_image_tokens": 729,
    "vision_feature_select_strategy": "full",
    "vision_aspect_ratio": "anyres_max_9",
}


def sizes(seed: int = 4) -> list[tuple[int, int]]:
    """(height, width) pairs: extremes, every side 1..40 against a few, random 1..4096, log-uniform to 30000."""
    rng = np.random.default_rng(seed)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (336, 336), (384, 384), (672, 672),
           (1008, 336), (336, 1008), (2304, 2304), (1080, 1920), (1920, 1080), (3000, 4000), (20000, 20000), (7, 9000),
           (500, 316), (899, 1024), (30000, 29999), (1, 30000)]  # fmt: skip
    out += [(h, w) for h in range(1, 41) for w in (1, 7, 336, 384, 1000)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4097, size=(2500, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(1000, 2))).astype(int) + 1]
    return out


def tiny_tokenizer(path: Path, specials: list[str], *, bos: str | None = None, pad: str | None = None):
    """A PreTrainedTokenizerFast over build_tiny_tokenizer_json's file (mmtok reads the same file)."""
    from transformers import PreTrainedTokenizerFast

    from reference_tokenizers import build_tiny_tokenizer_json

    build_tiny_tokenizer_json(path, specials, bos=bos)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token=bos)
    # mmtok pads with <|endoftext|> when the vocabulary has it, else with id 0
    tokenizer.pad_token = pad or tokenizer.convert_ids_to_tokens(0)
    return tokenizer


def llava_next_processor(tokenizer, **image_kwargs):
    from transformers import LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    class Offline(LlavaNextProcessor):
        # the auto-mapping class check pulls in torchvision-backed classes; the arguments are right
        def check_argument_for_proper_class(self, name, arg):
            return arg

    image_processor = LlavaNextImageProcessorPil(**{**LLAVA_NEXT_IMAGE_KWARGS, **image_kwargs})
    return Offline(image_processor=image_processor, tokenizer=tokenizer, **LLAVA_NEXT_PROCESSOR_KWARGS)


def llava_onevision_processor(tokenizer, **image_kwargs):
    from transformers import LlavaOnevisionProcessor
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import LlavaOnevisionImageProcessorPil

    class Offline(LlavaOnevisionProcessor):
        # no video processor is passed, and its auto mapping needs torchvision
        def check_argument_for_proper_class(self, name, arg):
            return arg

    image_processor = LlavaOnevisionImageProcessorPil(**{**LLAVA_ONEVISION_IMAGE_KWARGS, **image_kwargs})
    return Offline(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=None, **LLAVA_ONEVISION_PROCESSOR_KWARGS
    )


def assert_bit_identical(mine: np.ndarray, ref: np.ndarray) -> None:
    assert mine.dtype == ref.dtype == np.float32
    assert mine.shape == ref.shape, (mine.shape, ref.shape)
    # bits, not values: -0.0 == 0.0 would hide a difference
    mismatched = np.count_nonzero(mine.view(np.uint32) != ref.view(np.uint32))
    assert mismatched == 0, f"{mismatched} of {mine.size} values differ; max |diff| {np.abs(mine - ref).max()}"


def assert_same_output(mine, ref) -> None:
    """Every key of the reference's output (called with return_mm_token_type_ids=True), same shape,
    dtype and values (pixel values bit for bit), and no other key."""
    assert set(mine) == set(ref), (sorted(mine), sorted(ref))
    for key, value in ref.items():
        value = np.asarray(value)
        if value.dtype == np.float32:
            assert_bit_identical(np.asarray(mine[key]), value)
        else:
            assert mine[key].dtype == value.dtype, (key, mine[key].dtype, value.dtype)
            np.testing.assert_array_equal(mine[key], value, err_msg=key)


def generated_images() -> list:
    """Noise images of awkward sizes (thin, tiny, odd), as uint8 arrays and PIL RGB / RGBA / L images."""
    from PIL import Image

    rng = np.random.default_rng(7)
    out: list = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(33, 47), (300, 2), (701, 1999)]]
    # the reference guesses an array's channel axis, and takes (1 or 3, W, 3) for channels-first; mmtok
    # reads every array as channels-last, so these go in as PIL images
    out += [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(1, 90), (1, 1), (3, 5)]]
    out.append(Image.fromarray(rng.integers(0, 256, (64, 1500, 4), dtype=np.uint8), "RGBA"))
    out.append(Image.fromarray(rng.integers(0, 256, (1200, 257), dtype=np.uint8), "L"))
    return out
