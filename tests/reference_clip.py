"""transformers 5.23's CLIP, LLaVA-1.5 and BLIP processors built offline with the published checkpoints'
settings, and the helpers the tests of those families share (sizes, images, exact comparisons)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

OPENAI_CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# preprocessor_config.json of openai/clip-vit-base-patch32 and openai/clip-vit-large-patch14 (224) and of
# openai/clip-vit-large-patch14-336 and llava-hf/llava-1.5-7b-hf (336): CLIPImageProcessor, shortest_edge
# S, crop S x S, resample 3 (bicubic), rescale 1/255, OpenAI CLIP mean/std (research/families.md §1).
def clip_image_kwargs(size: int) -> dict:
    return {
        "size": {"shortest_edge": size},
        "crop_size": {"height": size, "width": size},
        "resample": 3,
        "do_center_crop": True,
        "image_mean": OPENAI_CLIP_MEAN,
        "image_std": OPENAI_CLIP_STD,
    }


# the families' vision towers: (image size, patch size) of each checkpoint's vision_config
CLIP_TOWERS = {"clip-vit-b-32": (224, 32), "clip-vit-l-14": (224, 14), "clip-vit-l-14-336": (336, 14)}

# llava-hf/llava-1.5-7b-hf processor_config.json
LLAVA_PROCESSOR_KWARGS = {"patch_size": 14, "vision_feature_select_strategy": "default", "num_additional_image_tokens": 1}


def sizes(seed: int = 5) -> list[tuple[int, int]]:
    """(height, width) pairs: extremes, every side 1..40 against a few, random 1..4096, log-uniform to 30000."""
    rng = np.random.default_rng(seed)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (224, 224), (336, 336), (384, 384),
           (225, 224), (224, 225), (337, 336), (1080, 1920), (1920, 1080), (3000, 4000), (20000, 20000), (7, 9000),
           (30000, 29999), (1, 30000), (30000, 1)]  # fmt: skip
    out += [(h, w) for h in range(1, 41) for w in (1, 7, 224, 336, 1000)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4097, size=(2500, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(1000, 2))).astype(int) + 1]
    return out


def tiny_tokenizer(path: Path, specials: list[str], *, bos: str | None = None):
    """A PreTrainedTokenizerFast over build_tiny_tokenizer_json's file (mmtok reads the same file)."""
    from transformers import PreTrainedTokenizerFast

    from reference_tokenizers import build_tiny_tokenizer_json

    build_tiny_tokenizer_json(path, specials, bos=bos)
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path), bos_token=bos)
    # mmtok pads with <|endoftext|> when the vocabulary has it, else with id 0 (the checkpoints' own pad
    # token, e.g. llava-hf's "<pad>" = 32001, is not what mmtok's processor writes)
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(0)
    return tokenizer


def clip_image_processor(size: int):
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    return CLIPImageProcessorPil(**clip_image_kwargs(size))


def llava_processor(tokenizer, image_processor, **processor_kwargs):
    """LlavaProcessor over any image processor (the LLaVA-1.5 one, or a CLIP one with its patch size)."""
    from transformers import LlavaProcessor

    class Offline(LlavaProcessor):
        # the auto-mapping class check pulls in torchvision-backed classes; the arguments are right
        def check_argument_for_proper_class(self, name, arg):
            return arg

    return Offline(image_processor=image_processor, tokenizer=tokenizer, **{**LLAVA_PROCESSOR_KWARGS, **processor_kwargs})


def assert_bit_identical(mine: np.ndarray, ref: np.ndarray) -> None:
    mine, ref = np.asarray(mine), np.asarray(ref)
    assert mine.dtype == ref.dtype == np.float32
    assert mine.shape == ref.shape, (mine.shape, ref.shape)
    # bits, not values: -0.0 == 0.0 would hide a difference
    mismatched = np.count_nonzero(mine.view(np.uint32) != ref.view(np.uint32))
    assert mismatched == 0, f"{mismatched} of {mine.size} values differ; max |diff| {np.abs(mine - ref).max()}"


def assert_same_output(mine, ref, *, extra: tuple[str, ...] = ()) -> None:
    """Every key of the reference's output, same shape, dtype and values (float32 bit for bit); mmtok
    may have only the `extra` keys besides."""
    assert set(mine) - set(extra) == set(ref), (sorted(mine), sorted(ref))
    for key, value in ref.items():
        value = np.asarray(value)
        if value.dtype == np.float32:
            assert_bit_identical(mine[key], value)
        else:
            assert mine[key].dtype == value.dtype, (key, mine[key].dtype, value.dtype)
            np.testing.assert_array_equal(mine[key], value, err_msg=key)


def generated_images() -> list:
    """Noise images of awkward sizes (thin, tiny, odd margins), as uint8 arrays and PIL RGB / RGBA / L /
    P images."""
    from PIL import Image

    rng = np.random.default_rng(7)
    out: list = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(33, 47), (300, 2), (701, 1999), (225, 224)]]
    # the reference guesses an array's channel axis, and takes (1 or 3, W, 3) for channels-first; mmtok
    # reads every array as channels-last, so these go in as PIL images
    out += [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for h, w in [(1, 90), (1, 1), (3, 5)]]
    out.append(Image.fromarray(rng.integers(0, 256, (120, 77, 4), dtype=np.uint8), mode="RGBA"))
    out.append(Image.fromarray(rng.integers(0, 256, (64, 200), dtype=np.uint8), mode="L"))
    out.append(Image.fromarray(rng.integers(0, 256, (97, 61, 3), dtype=np.uint8)).convert("P"))
    return out
