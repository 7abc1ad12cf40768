"""Idefics3 / SmolVLM against transformers 5.23's Idefics3Processor and SmolVLMProcessor, run offline.

Reference settings are each checkpoint's preprocessor_config.json and processor_config.json, as given
in research/families.md section 6 (and read on the Hub pages of the checkpoints):
* HuggingFaceM4/Idefics3-8B-Llama3: size {"longest_edge": 1456}, max_image_size {"longest_edge": 364},
  image_seq_len 169, Idefics3Processor, Llama 3 tokenizer (<|begin_of_text|>, markers as text);
* HuggingFaceTB/SmolVLM-Instruct: 1536 / 384 / 81, Idefics3Processor, markers as text;
* HuggingFaceTB/SmolVLM-256M-Instruct (= 500M, SmolVLM2-256M/500M): 2048 / 512 / 64, markers are added
  tokens (<global-img>, <row_1_col_1>..<row_6_col_6>);
* HuggingFaceTB/SmolVLM2-2.2B-Instruct: 1536 / 384 / 81, SmolVLMProcessor, markers are added tokens.
All: resample 1 (LANCZOS), image_mean = image_std = [0.5, 0.5, 0.5], do_image_splitting true.
"""

from __future__ import annotations

import numpy as np
import pytest

import mmtok
from mmtok.vision.families import get_family

CHECKPOINTS = {
    "idefics3": dict(longest_edge=1456, tile=364, seq_len=169, processor="Idefics3Processor", markers=False, bos="<|begin_of_text|>"),
    "smolvlm": dict(longest_edge=1536, tile=384, seq_len=81, processor="Idefics3Processor", markers=False, bos=None),
    "smolvlm-256m": dict(longest_edge=2048, tile=512, seq_len=64, processor="Idefics3Processor", markers=True, bos=None),
    "smolvlm2": dict(longest_edge=1536, tile=384, seq_len=81, processor="SmolVLMProcessor", markers=True, bos=None),
}  # fmt: skip
MARKERS = ["<global-img>"] + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]


def image_processor(model: str, **overrides):
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil
    from transformers.models.smolvlm.image_processing_pil_smolvlm import SmolVLMImageProcessorPil

    c = CHECKPOINTS[model]
    cls = SmolVLMImageProcessorPil if c["processor"] == "SmolVLMProcessor" else Idefics3ImageProcessorPil
    kwargs = dict(
        size={"longest_edge": c["longest_edge"]}, max_image_size={"longest_edge": c["tile"]}, resample=1,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], do_image_splitting=True,
    )  # fmt: skip
    kwargs.update(overrides)
    return cls(**kwargs)


def tokenizer_file(path, model: str):
    """The checkpoint's added tokens over a byte-level vocabulary with one merge, "\n" + "\n" (a single
    token in the Llama 3 and SmolLM2 vocabularies), so that len(input_ids) can check total_tokens."""
    c = CHECKPOINTS[model]
    specials = ["<fake_token_around_image>", "<image>", "<end_of_utterance>"] + (MARKERS if c["markers"] else [])
    return newline_tokenizer(path, specials, bos=c["bos"])


def newline_tokenizer(path, specials, *, bos=None):
    """build_tiny_tokenizer_json's tokenizer (256 byte tokens, `specials` added, `bos` first) plus the
    merge of two newlines into one token."""
    from reference_tokenizers import _bytes_to_unicode
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    chars = _bytes_to_unicode()
    vocab = {chars[b]: i for i, b in enumerate(sorted(chars))}
    newline = chars[ord("\n")]
    vocab[newline * 2] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[(newline, newline)]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(list(dict.fromkeys(([bos] if bos else []) + specials)))
    if bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokenizer.token_to_id(bos))]
        )
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def references(tmp_path_factory, monkeypatch_module):
    """model -> (transformers processor, mmtok processor), built on the same tokenizer.json."""
    import transformers
    from transformers import PreTrainedTokenizerFast
    from transformers.models.smolvlm import processing_smolvlm

    # SmolVLMProcessor refuses to start without num2words, which only its video prompts use (to spell
    # frame counts); this test sends no video.
    monkeypatch_module.setattr(processing_smolvlm, "num2words", str)
    cache = {}

    def get(model, **options):
        key = (model, tuple(sorted(options.items())))
        if key not in cache:
            c = CHECKPOINTS[model]
            path = tokenizer_file(tmp_path_factory.mktemp(model) / "tokenizer.json", model)
            base = getattr(transformers, c["processor"])

            class Offline(base):
                # the attribute check goes through auto mappings that need torchvision for videos
                def check_argument_for_proper_class(self, name, arg):
                    return arg

            extra = {"video_processor": None} if c["processor"] == "SmolVLMProcessor" else {}
            overrides = {}
            if "longest_edge" in options:
                overrides["size"] = {"longest_edge": options["longest_edge"]}
            if "do_image_splitting" in options:
                overrides["do_image_splitting"] = options["do_image_splitting"]
            ref = Offline(
                image_processor=image_processor(model, **overrides),
                tokenizer=PreTrainedTokenizerFast(tokenizer_file=str(path), pad_token="<end_of_utterance>"),
                image_seq_len=c["seq_len"],
                **extra,
            )
            cache[key] = ref, mmtok.get_processor(model, tokenizer=str(path), **options)
        return cache[key]

    return get


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def sizes() -> list[tuple[int, int]]:
    rng = np.random.default_rng(3)
    out = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (364, 364), (384, 384), (512, 512),
           (1080, 1920), (1920, 1080), (4000, 3000), (20000, 20000), (7, 9000), (365, 364), (364, 365), (1, 4097)]
    out += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(1500, 2))]
    out += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(600, 2))).astype(int) + 1]
    return out  # fmt: skip


def reference_counts(ref, all_sizes) -> list[int]:
    """The processor's _get_num_multimodal_tokens. SmolVLMProcessor has none; it writes the same image
    text from the same rows and columns, so Idefics3Processor's is run on it."""
    from transformers import Idefics3Processor

    return Idefics3Processor._get_num_multimodal_tokens(ref, image_sizes=all_sizes)["num_image_tokens"]


@pytest.mark.parametrize("model", list(CHECKPOINTS))
def test_plans_match_reference_counts(model, references):
    """rows, cols and tiles equal the image processor's get_number_of_image_patches, and tokens +
    structure equal the processor's _get_num_multimodal_tokens (which counts each marker as one token)."""
    ref, _ = references(model)
    family = get_family(model)
    n = CHECKPOINTS[model]["seq_len"]
    all_sizes = sizes()
    counts = reference_counts(ref, all_sizes)
    for (h, w), count in zip(all_sizes, counts):
        plan = family.plan_size((h, w))
        patches, rows, cols = ref.image_processor.get_number_of_image_patches(h, w, {})
        assert (plan.details["rows"], plan.details["cols"]) == (rows, cols), (h, w)
        assert plan.tiles == max(patches, 1) and plan.tokens == n * plan.tiles, (h, w)
        assert plan.total + plan.details["text_markers"] == count, (h, w)


@pytest.mark.parametrize("model, options", [("idefics3", {"longest_edge": 8 * 364}), ("smolvlm2", {"longest_edge": 2 * 384}),
                                            ("smolvlm", {"do_image_splitting": False})])  # fmt: skip
def test_plans_with_options(model, options, references):
    ref, proc = references(model, **options)
    all_sizes = sizes()[:800]
    counts = reference_counts(ref, all_sizes)
    for (h, w), count in zip(all_sizes, counts):
        plan = proc.family.plan_size((h, w))
        patches, rows, cols = ref.image_processor.get_number_of_image_patches(h, w, {})
        assert (plan.details["rows"], plan.details["cols"], plan.tiles) == (rows, cols, max(patches, 1)), (h, w)
        assert plan.total + plan.details["text_markers"] == count, (h, w)


def generated_images():
    """Odd sizes and modes, as PIL images: the reference guesses the channel axis of small arrays
    ((1, 90, 3) is taken as channels-first), so arrays are left to the photos."""
    from PIL import Image

    rng = np.random.default_rng(5)
    shapes = [(1, 90, 3), (33, 47, 3), (300, 2, 3), (2, 700, 3), (120, 80, 4), (64, 200)]
    return [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for shape in shapes]


def as_input(array):
    """The reference takes no 2-D arrays in a list of images: greyscale photos go in as PIL "L" images."""
    from PIL import Image

    return Image.fromarray(array, mode="L") if array.ndim == 2 else array


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def small(model: str) -> dict:
    """longest_edge = 2 tiles: the same code paths as the checkpoint's 4 tiles, at a quarter of the cost
    (every input is resized to longest_edge, whatever its size)."""
    return {"longest_edge": 2 * CHECKPOINTS[model]["tile"]}


@pytest.mark.parametrize("model, photo", [("idefics3", 0), ("smolvlm", 1), ("smolvlm-256m", 3), ("smolvlm2", 5)])
def test_pixels_bit_exact(model, photo, photos, references):
    """pixel_values (bits) and pixel_attention_mask, at the checkpoint's settings on one photo each, and
    on odd sizes and modes at longest_edge = 2 tiles."""
    ref, proc = references(model)
    image = as_input(photos[photo][1])
    expected, ours = ref.image_processor([image]), proc.preprocess_images([image])
    assert same_bits(ours["pixel_values"], expected["pixel_values"])
    assert ours["pixel_values"].shape[1] == ours.plans[0].tiles
    assert np.array_equal(ours["pixel_attention_mask"], expected["pixel_attention_mask"])
    assert ours["pixel_attention_mask"].dtype == expected["pixel_attention_mask"].dtype
    if model == "idefics3":
        ref, proc = references(model, **small(model))
        images = generated_images() + [as_input(photos[4][1])]
        for image in images:
            expected, ours = ref.image_processor([image]), proc.preprocess_images([image])
            assert same_bits(ours["pixel_values"], expected["pixel_values"]), image
            assert ours["pixel_values"].shape[1] == ours.plans[0].tiles
        # several images: one batch sample holding all their tiles
        assert same_bits(proc.preprocess_images(images[:3])["pixel_values"], ref.image_processor(images[:3])["pixel_values"])


def test_pixels_without_splitting_and_from_files(photos, references, photo_files):
    ref, proc = references("smolvlm", do_image_splitting=False)
    for image in [as_input(photos[2][1]), *generated_images()[:3]]:
        assert same_bits(proc.preprocess_images([image])["pixel_values"], ref.image_processor([image])["pixel_values"])
    # files go through load_image (EXIF transpose, RGB) in both
    ref, proc = references("idefics3", **small("idefics3"))
    for path in photo_files[:4]:
        assert same_bits(proc.preprocess_images([str(path)])["pixel_values"], ref.image_processor([str(path)])["pixel_values"])


PROMPTS = [
    ("<image>Describe this image.", 1),
    ("User:<image>\nWhat is in <image> and how\n\n many?<end_of_utterance>\nAssistant:", 2),
    ("Text first <image>", 1),
]


def check_same_output(ref, proc, prompt, images):
    expected = ref(text=prompt, images=images)
    ours = proc.encode_text(prompt, images)
    assert ours["input_ids"].tolist() == expected["input_ids"], prompt
    assert ours["attention_mask"].tolist() == expected["attention_mask"]
    assert ours["input_ids"].dtype == np.int64
    for key in expected:
        if key not in ("input_ids", "attention_mask"):
            assert same_bits(ours[key], expected[key]) if key == "pixel_values" else np.array_equal(ours[key], expected[key]), key
    return ours


@pytest.mark.parametrize("model", list(CHECKPOINTS))
def test_sequences_match_processor(model, references):
    """input_ids, attention_mask and every image key of processor(text=..., images=...) vs encode_text:
    one image at the checkpoint's settings (4 x 4 tiles), then prompts at 2 tiles."""
    images = generated_images()
    check_same_output(*references(model), "<image>Describe.", [images[5]])
    ref, proc = references(model, **small(model))
    for prompt, count in PROMPTS:
        check_same_output(ref, proc, prompt, [images[3], images[1]][:count])


@pytest.mark.parametrize("model", list(CHECKPOINTS))
def test_total_tokens_is_the_image_footprint(model, references):
    """With the checkpoint's added tokens and "\n\n" as one token, an image alone takes plan.total ids
    plus the BPE length of its text markers (none for the SmolVLM-256M / SmolVLM2 vocabularies)."""
    rng = np.random.default_rng(9)
    bos = 1 if CHECKPOINTS[model]["bos"] else 0
    for options, shape in [({}, (50, 60, 3)), (small(model), (700, 200, 3)), (small(model), (20, 900, 3))]:
        _, proc = references(model, **options)
        out = proc.encode_text("<image>", [rng.integers(0, 256, shape, dtype=np.uint8)])
        plan = out.plans[0]
        grid = [(r, c) for r in range(1, plan.details["rows"] + 1) for c in range(1, plan.details["cols"] + 1)]
        text_bytes = len("<global-img>") + sum(len(f"<row_{r}_col_{c}>") for r, c in grid)
        extra = 0 if CHECKPOINTS[model]["markers"] else text_bytes  # the tiny tokenizer spells text byte by byte
        assert out["input_ids"].shape[1] - bos == plan.total + extra
        assert int((out["mm_token_type_ids"] == 1).sum()) == plan.tokens


def test_long_edges_write_markers_past_the_vocabulary(references):
    """7 columns: <row_1_col_7> is text even where <row_1_col_1>..<row_6_col_6> are tokens."""
    ref, proc = references("smolvlm2", longest_edge=7 * 384)
    ours = check_same_output(ref, proc, "<image>", [generated_images()[3]])
    plan = ours.plans[0]
    assert (plan.details["rows"], plan.details["cols"], plan.details["text_markers"]) == (1, 7, 1)


def test_batch_of_prompts_ids(references):
    """Two prompts: the ids and the mask match (pixel_values differ in layout: the reference groups tiles
    per prompt, (prompts, max tiles, ...), mmtok's family sees one flat list)."""
    ref, proc = references("idefics3", **small("idefics3"))
    images = generated_images()[:3]
    texts = ["<image> one", "two <image> and <image>"]
    expected = ref(text=texts, images=images, padding=True)
    ours = proc.encode_text(texts, images)
    for row, (ids, mask) in enumerate(zip(expected["input_ids"], expected["attention_mask"])):
        n = sum(mask)
        assert ours["input_ids"][row][:n].tolist() == ids[:n] and ours["attention_mask"][row].tolist() == mask


def test_options_are_checked():
    from mmtok.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="longest_edge"):
        get_family("idefics3", longest_edge=0)
    with pytest.raises(InvalidOptionError, match="takes no max_pixels"):
        get_family("smolvlm", max_pixels=1000)
    assert get_family("HuggingFaceTB/SmolVLM2-500M-Video-Instruct").name == "smolvlm-256m"
