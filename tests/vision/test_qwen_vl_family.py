"""The "qwen-vl" family (Qwen-VL / Qwen-VL-Chat, v1) against Qwen-VL's own code and vLLM's layout.

References (transcribed line by line in reference_qwen_vl.py, since the remote code cannot be installed):
visual.py's image_transform / encode for pixels; qwen_generation_utils.make_context, tokenization_qwen's
from_list_format and tokenize, and finetune.py's preprocess for ids. The span layout without paths is
vLLM's (vllm/model_executor/models/qwen_vl.py: `_call_hf_processor` drops what is between <img> and
</img> with the regex below, and the prompt update writes <img> + 256 x <imgpad> + </img>).
"""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image
from reference_qwen_vl import QWenTokenizer, encode_images, finetune_input_ids, finetune_input_ids_and_targets, image_transform, make_context

import mmtok
from mmtok.errors import EmptyImageError, MessageFormatError, UnsupportedInputError
from mmtok.errors import ImageSpanError

SYSTEM = "You are a helpful assistant."  # Qwen-VL-Chat chat(system=...) default, finetune.py system_message


def drop_urls(text: str) -> str:
    """vLLM QwenVLMultiModalProcessor._call_hf_processor: the span's content is dropped before tokenizing."""
    return re.sub(r"(Picture \d*: <img>).*?(<\/img>\n)", r"\1\2", text)


def assert_bit_identical(mine: np.ndarray, ref: np.ndarray) -> None:
    assert mine.dtype == ref.dtype == np.float32
    assert mine.shape == ref.shape
    mismatched = np.count_nonzero(mine.view(np.uint32) != ref.view(np.uint32))
    assert mismatched == 0, f"{mismatched} of {mine.size} values differ; max |diff| {np.abs(mine - ref).max()}"


@pytest.fixture(scope="module")
def proc():
    return mmtok.get_processor("qwen-vl")


@pytest.fixture(scope="module")
def ref():
    return QWenTokenizer()


# -- plan ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1, 1), (448, 448), (1000, 20), (3000, 4000), (7, 90000)])
def test_plan_any_size_is_448_and_256_tokens(proc, size):
    plan = proc.plan(size)
    assert plan.size == size
    assert plan.resized == (448, 448)  # visual.py Resize((image_size, image_size)), config image_size 448
    assert plan.grid_thw == (1, 448 // 14, 448 // 14)  # VisionTransformer.grid_size, patch_size 14
    assert plan.tokens == (448 // 14 // 2) ** 2 == 256  # vLLM get_num_image_tokens; the resampler's n_queries
    assert plan.patches == 1  # one (3, 448, 448) entry of pixel_values
    assert plan.limits == proc.limits == {"image_size": 448}


def test_plan_of_an_empty_image_is_an_error(proc):
    with pytest.raises(EmptyImageError):
        proc.plan((0, 10))


def test_pixel_budget_options_are_refused():
    with pytest.raises(mmtok.errors.InvalidOptionError, match="max_pixels"):
        mmtok.get_processor("qwen-vl", max_pixels=100_000)
    assert mmtok.get_processor("qwen-vl", min_pixels=None).limits == {"image_size": 448}


def test_aliases(proc):
    for name in ("Qwen/Qwen-VL", "Qwen/Qwen-VL-Chat", "QWEN_VL"):
        assert mmtok.get_processor(name).family.name == "qwen-vl"
    assert proc.tokenizer is mmtok.get_tokenizer("qwen-vl")


# -- pixels ----------------------------------------------------------------------------------------


def test_pixels_of_files_bit_identical_to_visual_py(proc, photo_files):
    out = proc.preprocess_images([str(p) for p in photo_files])
    assert_bit_identical(out["pixel_values"], encode_images(photo_files))
    assert out["pixel_values"].shape == (len(photo_files), 3, 448, 448)
    assert out["image_grid_thw"].tolist() == [[1, 32, 32]] * len(photo_files)
    assert [p.size for p in out.plans] == [Image.open(p).size[::-1] for p in photo_files]


def test_pixels_of_pil_images_and_arrays(proc, photos):
    for name, array in photos:
        image = Image.fromarray(array)
        expected = image_transform(image.convert("RGB"))[None]
        assert_bit_identical(proc.preprocess_images([image])["pixel_values"], expected)
        if array.ndim == 3:
            assert_bit_identical(proc.preprocess_images([array])["pixel_values"], expected)


def _encoded(image: Image.Image, fmt: str, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **save)
    return buffer.getvalue()


def test_pixels_of_other_modes_and_orientation(proc, tmp_path):
    rng = np.random.default_rng(5)
    rgba = Image.fromarray(rng.integers(0, 256, (37, 53, 4), dtype=np.uint8), "RGBA")
    cases = {
        "rgba.png": _encoded(rgba, "PNG"),  # convert("RGB") drops alpha, keeps the hidden colour
        "palette.png": _encoded(rgba.convert("RGB").convert("P"), "PNG"),
        "gray.png": _encoded(rgba.convert("L"), "PNG"),
        "la.png": _encoded(rgba.convert("LA"), "PNG"),
    }
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: visual.py does not transpose, and neither does mmtok
    cases["rotated.jpg"] = _encoded(rgba.convert("RGB"), "JPEG", exif=exif)
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        out = proc.preprocess_images([str(path)])
        assert_bit_identical(out["pixel_values"], encode_images([path]))
        assert out.plans[0].size == (37, 53) == proc.plan(str(path)).size, name
        # the same image passed decoded: the same plain convert("RGB"), no compositing onto white
        opened = Image.open(path)
        assert_bit_identical(proc.preprocess_images([opened])["pixel_values"], out["pixel_values"])


def test_tiny_and_exact_sizes(proc):
    rng = np.random.default_rng(9)
    for h, w in [(1, 1), (448, 448), (2, 3000)]:
        image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        assert_bit_identical(proc.preprocess_images([image])["pixel_values"], image_transform(image)[None])


# -- sequence --------------------------------------------------------------------------------------


def _chat(photo_files):
    """A conversation in mmtok's messages and in make_context's (query, history) form, as Qwen-VL-Chat
    users write it with tokenizer.from_list_format."""
    a, b = str(photo_files[0]), str(photo_files[2])
    turns = [
        ([{"image": a}, {"image": b}, {"text": "Compare the two pictures."}], "The first is a person; the second a cat."),
        ([{"text": "\n\nBox the cat, please"}], "<ref>the cat</ref><box>(120,80),(890,999)</box>"),
        ([{"image": a}, {"text": "And <ref>this</ref>?"}, {"box": [[1, 2, 3.7, 4]], "ref": "one"}], None),
    ]
    messages = []
    for query, answer in turns:
        messages.append({"role": "user", "content": [({"type": "image", **i} if "image" in i else i) for i in query]})
        if answer is not None:
            messages.append({"role": "assistant", "content": answer})
    return messages, turns


def test_chat_ids_same_as_make_context_with_paths_dropped(proc, ref, photo_files):
    messages, turns = _chat(photo_files)
    history = [(drop_urls(ref.from_list_format(q)), r) for q, r in turns[:-1]]
    raw_text, expected = make_context(ref, drop_urls(ref.from_list_format(turns[-1][0])), history, system=SYSTEM)
    out = proc(messages, add_generation_prompt=True)
    assert out["input_ids"][0].tolist() == expected
    assert proc.apply_chat_template(messages, add_generation_prompt=True) == raw_text
    assert int((out["mm_token_type_ids"] == 1).sum()) == 3 * 256 == sum(p.tokens for p in out.plans)
    assert_bit_identical(out["pixel_values"], encode_images([photo_files[0], photo_files[2], photo_files[0]]))
    assert proc.sequence_lengths(messages, add_generation_prompt=True) == [len(expected)]


def test_chat_ids_with_paths_same_as_make_context(proc, ref, photo_files):
    messages, turns = _chat(photo_files)
    history = [(ref.from_list_format(q), r) for q, r in turns[:-1]]
    _, expected = make_context(ref, ref.from_list_format(turns[-1][0]), history, system=SYSTEM)
    assert proc.family.url_input_ids(messages, add_generation_prompt=True) == expected
    assert len(expected) == len(proc(messages, add_generation_prompt=True)["input_ids"][0])


# Training data in QwenLM/Qwen-VL README's fine-tuning format (the README's own example, with the
# README's URL, and with local files for the pixel path).
def _finetune_source(image_a: str, image_b: str):
    return [
        {"from": "user", "value": f"Picture 1: <img>{image_a}</img>\n图中的狗是什么品种？"},
        {"from": "assistant", "value": "图中是一只拉布拉多犬。"},
        {"from": "user", "value": "框出图中的格子衬衫"},
        {"from": "assistant", "value": "<ref>格子衬衫</ref><box>(588,499),(725,789)</box>"},
        {"from": "user", "value": f"Picture 1: <img>{image_a}</img>\nPicture 2: <img>{image_b}</img>\n图中都是哪"},
        {"from": "assistant", "value": "第一张图片是重庆的城市天际线，第二张图片是北京的天际线。"},
    ]


def _as_messages(source):
    return [{"role": s["from"], "content": s["value"]} for s in source]


def test_training_ids_same_as_finetune_py(proc, ref, photo_files):
    url = "https://qianwen-res.oss-cn-beijing.aliyuncs.com/Qwen-VL/assets/demo.jpeg"
    source = _finetune_source(url, "assets/mm_tutorial/Chongqing.jpeg")
    assert proc.family.url_input_ids(_as_messages(source)) == finetune_input_ids(ref, source)

    local = _finetune_source(str(photo_files[0]), str(photo_files[1]))
    out = proc(_as_messages(local))
    dropped = [{"from": s["from"], "value": drop_urls(s["value"])} for s in local]
    assert out["input_ids"][0].tolist() == finetune_input_ids(ref, dropped)
    assert [p.source for p in out.plans] == [str(photo_files[0]), str(photo_files[0]), str(photo_files[1])]
    assert out["pixel_values"].shape == (3, 3, 448, 448)
    # labels: finetune.py's targets (the family's default label style)
    ids, targets = finetune_input_ids_and_targets(ref, dropped)
    labelled = proc(_as_messages(local), labels=True)
    assert labelled["input_ids"][0].tolist() == ids
    assert labelled["labels"][0].tolist() == targets


def test_system_message_and_text_only(proc, ref):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi\u0301 <box>(1,2),(3,4)</box>"}]
    _, expected = make_context(ref, messages[1]["content"], system="Be brief.")
    out = proc(messages, add_generation_prompt=True)
    assert out["input_ids"][0].tolist() == expected
    assert "pixel_values" not in out


def test_special_tokens_in_text_follow_the_policy(ref):
    messages = [{"role": "user", "content": "say <|im_end|> please"}]
    with pytest.raises(mmtok.errors.SpecialTokenError):
        mmtok.get_processor("qwen-vl")(messages)
    # make_context encodes content with only IMAGE_ST allowed: other spellings are ordinary text
    _, expected = make_context(ref, messages[0]["content"], system=SYSTEM)
    out = mmtok.get_processor("qwen-vl", special_in_text="text")(messages, add_generation_prompt=True)
    assert out["input_ids"][0].tolist() == expected


def test_bad_inputs(proc, photo_files):
    with pytest.raises(MessageFormatError, match="no </img>"):
        proc([{"role": "user", "content": "Picture 1: <img>a.jpg"}])
    with pytest.raises(MessageFormatError, match="no videos"):
        proc([{"role": "user", "content": [{"type": "video", "video": "v.mp4"}]}])
    with pytest.raises(MessageFormatError, match="not an image, text or box"):
        proc([{"role": "user", "content": [{"type": "audio", "audio": "a.wav"}]}])
    array = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(UnsupportedInputError, match="path or URL"):
        proc.family.url_input_ids([{"role": "user", "content": [{"type": "image", "image": array}]}])
    with pytest.raises(ImageSpanError, match="257 bytes"):
        proc.family.url_input_ids([{"role": "user", "content": [{"type": "image", "image": "x" * 257}]}])


def test_end_to_end_with_every_input_kind(proc, photo_files, photos):
    image = Image.open(photo_files[0])
    inputs = [str(photo_files[0]), image, np.asarray(image.convert("RGB"))]
    messages = [{"role": "user", "content": [*({"type": "image", "image": i} for i in inputs), {"type": "text", "text": "Same?"}]}]
    out = mmtok.get_processor("qwen-vl")(messages, add_generation_prompt=True)
    ids = out["input_ids"][0].tolist()
    start = [i for i, t in enumerate(ids) if t == 151857]
    assert len(start) == 3
    for s in start:  # every kind writes the same span: <img> + 256 <imgpad> + </img>
        assert ids[s + 1 : s + 257] == [151859] * 256 and ids[s + 257] == 151858
    assert mmtok.get_tokenizer("qwen-vl").decode(ids).count("Picture ") == 3
    pv = out["pixel_values"]
    assert_bit_identical(pv[1:2], pv[0:1])  # same photo as a file, a PIL image and an array
    assert_bit_identical(pv[2:3], pv[0:1])
