"""Grounding conversions against the official Qwen code, its published numbers, and exact round trips.

The reference functions below are copied verbatim from the official sources (read at QwenLM/Qwen3-VL,
the renamed QwenLM/Qwen2-VL / Qwen2.5-VL repository; copies identical in its forks were used to read
them) and run here as they are published:

* qwen-vl-finetune/tools/process_bbox.ipynb: smart_resize, convert_to_qwen2vl_format,
  convert_to_qwen25vl_format, and the outputs the notebook prints for them.
* cookbooks/spatial_understanding.ipynb (Qwen2.5-VL version): parse_json and the box/point mapping of
  plot_bounding_boxes / plot_points; a model output the cookbook prints.
* cookbooks/2d_grounding.ipynb (Qwen3-VL): the mapping of plot_bounding_boxes / plot_points_json.
* Qwen-VL-Chat tokenization_qwen.py (HF Hub): the mapping of draw_bbox_on_latest_picture;
  QwenLM/Qwen-VL eval_mm/evaluate_grounding.py: the bare "(x1,y1),(x2,y2)" pattern.
"""

from __future__ import annotations

import ast
import math
import random

import numpy as np
import pytest

from conftest import reference_image_processor
from mmtok.errors import GroundingError, GroundingParseError, UnknownNameError
from mmtok.sequence import grounding as g

# --- reference code, verbatim ---------------------------------------------------------------------


# process_bbox.ipynb: "This is the resize function of Qwen2.5-VL"
def smart_resize(height: int, width: int, factor: int = 28, min_pixels: int = 56 * 56, max_pixels: int = 14 * 14 * 4 * 1280):
    if height < factor or width < factor:
        raise ValueError(f"height:{height} or width:{width} must be larger than factor:{factor}")
    elif max(height, width) / min(height, width) > 200:
        raise ValueError(f"absolute aspect ratio must be smaller than 200, got {max(height, width) / min(height, width)}")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def convert_to_qwen2vl_format(bbox, h, w):
    x1, y1, x2, y2 = bbox
    x1_new = round(x1 / w * 1000)
    y1_new = round(y1 / h * 1000)
    x2_new = round(x2 / w * 1000)
    y2_new = round(y2 / h * 1000)

    x1_new = max(0, min(x1_new, 1000))
    y1_new = max(0, min(y1_new, 1000))
    x2_new = max(0, min(x2_new, 1000))
    y2_new = max(0, min(y2_new, 1000))

    return [x1_new, y1_new, x2_new, y2_new]


def convert_to_qwen25vl_format(bbox, orig_height, orig_width, factor=28, min_pixels=56 * 56, max_pixels=14 * 14 * 4 * 1280):
    new_height, new_width = smart_resize(orig_height, orig_width, factor, min_pixels, max_pixels)
    scale_w = new_width / orig_width
    scale_h = new_height / orig_height

    x1, y1, x2, y2 = bbox
    x1_new = round(x1 * scale_w)
    y1_new = round(y1 * scale_h)
    x2_new = round(x2 * scale_w)
    y2_new = round(y2 * scale_h)

    x1_new = max(0, min(x1_new, new_width - 1))
    y1_new = max(0, min(y1_new, new_height - 1))
    x2_new = max(0, min(x2_new, new_width - 1))
    y2_new = max(0, min(y2_new, new_height - 1))

    return [x1_new, y1_new, x2_new, y2_new]


# spatial_understanding.ipynb (Qwen2.5-VL): "Parsing out the markdown fencing"
def parse_json(json_output):
    lines = json_output.splitlines()
    for i, line in enumerate(lines):
        if line == "```json":
            json_output = "\n".join(lines[i + 1:])  # Remove everything before "```json"
            json_output = json_output.split("```")[0]  # Remove everything after the closing "```"
            break  # Exit the loop once "```json" is found
    return json_output


def cookbook25_box(bounding_box, input_width, input_height, width, height):  # plot_bounding_boxes
    abs_y1 = int(bounding_box["bbox_2d"][1] / input_height * height)
    abs_x1 = int(bounding_box["bbox_2d"][0] / input_width * width)
    abs_y2 = int(bounding_box["bbox_2d"][3] / input_height * height)
    abs_x2 = int(bounding_box["bbox_2d"][2] / input_width * width)
    return abs_x1, abs_y1, abs_x2, abs_y2


def cookbook25_point(point, input_width, input_height, width, height):  # plot_points (floats, no int())
    abs_x1 = int(point[0]) / input_width * width
    abs_y1 = int(point[1]) / input_height * height
    return abs_x1, abs_y1


def cookbook3_box(bounding_box, width, height):  # 2d_grounding.ipynb plot_bounding_boxes
    abs_y1 = int(bounding_box["bbox_2d"][1] / 1000 * height)
    abs_x1 = int(bounding_box["bbox_2d"][0] / 1000 * width)
    abs_y2 = int(bounding_box["bbox_2d"][3] / 1000 * height)
    abs_x2 = int(bounding_box["bbox_2d"][2] / 1000 * width)
    return abs_x1, abs_y1, abs_x2, abs_y2


def cookbook3_point(point_2d, width, height):  # 2d_grounding.ipynb plot_points_json
    return int(point_2d[0] / 1000 * width), int(point_2d[1] / 1000 * height)


def qwen_vl_draw(box, h, w):  # tokenization_qwen.py draw_bbox_on_latest_picture
    x1, y1, x2, y2 = box
    return (int(x1 / 1000 * w), int(y1 / 1000 * h), int(x2 / 1000 * w), int(y2 / 1000 * h))


# Printed by spatial_understanding.ipynb (Qwen2.5-VL-7B-Instruct, "locate every cake ...").
CUPCAKES = """```json
[
\t{"bbox_2d": [43, 571, 209, 753], "label": "cupcake with white frosting and colorful sprinkles"},
\t{"bbox_2d": [68, 408, 214, 596], "label": "cupcake with red frosting and sprinkles"},
\t{"bbox_2d": [259, 392, 386, 560], "label": "cupcake with pink frosting and sprinkles"},
\t{"bbox_2d": [412, 380, 518, 520], "label": "cupcake with pink frosting and sprinkles"},
\t{"bbox_2d": [550, 368, 675, 543], "label": "cupcake with pink frosting and sprinkles"},
\t{"bbox_2d": [306, 566, 462, 730], "label": "cupcake with white frosting and candy eyes"},
\t{"bbox_2d": [365, 678, 535, 849], "label": "cupcake with white frosting and candy eyes"},
\t{"bbox_2d": [138, 768, 319, 958], "label": "cupcake with white frosting and candy eyes"},
\t{"bbox_2d": [531, 579, 690, 739], "label": "cupcake with white frosting and candy eyes"},
\t{"bbox_2d": [652, 492, 799, 662], "label": "cupcake with white frosting and candy eyes"},
\t{"bbox_2d": [829, 525, 994, 716], "label": "cupcake with white frosting and colorful sprinkles"},
\t{"bbox_2d": [765, 393, 896, 556], "label": "cupcake with chocolate frosting"}
]
```"""

NOTEBOOK_LIMITS = {"min_pixels": 56 * 56, "max_pixels": 14 * 14 * 4 * 1280}  # process_bbox.ipynb defaults
MODELS = ("qwen-vl", "qwen2-vl", "qwen2.5-vl", "qwen3-vl")


def _sizes(n=120, seed=0):
    rng = random.Random(seed)
    sizes = [(428, 640), (28, 28), (1080, 1920), (2000, 400), (400, 2000), (16, 80), (7, 1000), (4000, 3000)]
    while len(sizes) < n:
        h, w = rng.randint(28, 4000), rng.randint(28, 4000)
        if max(h, w) / min(h, w) < 100:
            sizes.append((h, w))
    return sizes


# --- published worked example ---------------------------------------------------------------------


def test_process_bbox_notebook_published_numbers():
    # process_bbox.ipynb prints [228, 320, 961, 970] and [147, 134, 619, 407] for this COCO box.
    box, size = [146, 137, 615, 415], (428, 640)
    assert g.to_model_coords("qwen2-vl", box, size) == (228, 320, 961, 970)
    assert g.to_model_coords("qwen2.5-vl", box, size, **NOTEBOOK_LIMITS) == (147, 134, 619, 407)
    text = g.to_model("qwen2.5-vl", [box], size, labels=["bowl of carrots"], **NOTEBOOK_LIMITS)
    assert '{"bbox_2d": [147, 134, 619, 407], "label": "bowl of carrots"}' in text
    assert g.to_model("qwen2-vl", [box], size, labels="bowl of carrots") == (
        "<|object_ref_start|>bowl of carrots<|object_ref_end|><|box_start|>(228,320),(961,970)<|box_end|>"
    )


def test_qwen25_frame_is_the_processors_grid_times_14():
    # The cookbook takes the frame from the processor: input_height = image_grid_thw[0][1] * 14.
    rng = np.random.default_rng(0)
    for (h, w), limits in [((428, 640), NOTEBOOK_LIMITS), ((1000, 1000), {"min_pixels": 3136, "max_pixels": 200704}),
                           ((50, 3000), {"min_pixels": 3136, "max_pixels": 100000}), ((20, 30), {"min_pixels": 3136, "max_pixels": 12845056})]:
        out = reference_image_processor(**limits)(images=[rng.integers(0, 256, (h, w, 3), dtype=np.uint8)])
        t, gh, gw = (int(v) for v in out["image_grid_thw"][0])
        assert g.model_frame("qwen2.5-vl", (h, w), **limits) == (gh * 14, gw * 14)


# --- to the model: against the official converters -------------------------------------------------


def test_to_model_matches_official_converters():
    rng = random.Random(1)
    limits_set = [NOTEBOOK_LIMITS, {"min_pixels": 3136, "max_pixels": 12845056}, {"min_pixels": 200704, "max_pixels": 401408}]
    compared = 0
    for h, w in _sizes():
        boxes = [[0, 0, w, h], [w, h, 0, 0], [-5, -5, w + 5, h + 5]]
        boxes += [[rng.randint(0, w), rng.randint(0, h), rng.randint(0, w), rng.randint(0, h)] for _ in range(20)]
        boxes += [[rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h)] for _ in range(10)]
        boxes += [[w / 2000, h / 2000, w * 0.0025, h * 0.0125]]  # exact .5 ties in the 1000 frame
        for box in boxes:
            ref2 = convert_to_qwen2vl_format(box, h, w)
            assert list(g.to_model_coords("qwen2-vl", box, (h, w))) == ref2
            assert list(g.to_model_coords("qwen3-vl", box, (h, w))) == ref2  # maintainers: same conversion
            assert list(g.to_model_coords("qwen-vl", box, (h, w))) == [min(v, 999) for v in ref2]
            if min(h, w) >= 28:  # the notebook's copy of smart_resize rejects smaller sides
                for limits in limits_set:
                    ref25 = convert_to_qwen25vl_format(box, h, w, 28, limits["min_pixels"], limits["max_pixels"])
                    assert list(g.to_model_coords("qwen2.5-vl", box, (h, w), **limits)) == ref25, (h, w, box, limits)
                    compared += 1
    assert compared > 10000


def test_banker_rounding_on_ties_as_the_reference():
    # round(0.5) == 0 and round(2.5) == 2 in Python; the notebook relies on round(), so do we.
    assert g.to_model_coords("qwen2-vl", (1, 1, 5, 5), (2000, 2000)) == (0, 0, 2, 2)
    assert convert_to_qwen2vl_format((1, 1, 5, 5), 2000, 2000) == [0, 0, 2, 2]


# --- from the model: against the cookbooks' drawing code -------------------------------------------


def test_from_model_matches_cookbooks_int_mapping():
    rng = random.Random(2)
    for h, w in _sizes(60, seed=3):
        frame25 = g.model_frame("qwen2.5-vl", (h, w))
        ih, iw = frame25
        for _ in range(30):
            box25 = {"bbox_2d": [rng.randint(0, iw), rng.randint(0, ih), rng.randint(0, iw), rng.randint(0, ih)]}
            box1000 = {"bbox_2d": [rng.randint(0, 1000) for _ in range(4)]}
            point = [rng.randint(0, 1000), rng.randint(0, 1000)]
            got = g.from_model_coords("qwen2.5-vl", box25["bbox_2d"], (h, w), rounding="int")
            assert got == cookbook25_box(box25, iw, ih, w, h)
            assert g.from_model_coords("qwen2.5-vl", point, (h, w)) == cookbook25_point(point, iw, ih, w, h)
            assert g.from_model_coords("qwen3-vl", box1000["bbox_2d"], (h, w), rounding="int") == cookbook3_box(box1000, w, h)
            assert g.from_model_coords("qwen3-vl", point, (h, w), rounding="int") == cookbook3_point(point, w, h)
            v1 = [min(v, 999) for v in box1000["bbox_2d"]]
            assert g.from_model_coords("qwen-vl", v1, (h, w), rounding="int") == qwen_vl_draw(v1, h, w)


def test_cookbook_output_parses_as_the_cookbook_parses_it():
    ref = ast.literal_eval(parse_json(CUPCAKES))
    ours = g.parse_groundings("qwen2.5-vl", CUPCAKES)
    assert [(x.label, list(x.box)) for x in ours] == [(b["label"], b["bbox_2d"]) for b in ref]
    assert len(ours) == 12
    size = (1279, 1280)  # any original size: the mapping is what is compared
    ih, iw = g.model_frame("qwen2.5-vl", size)
    pixels = g.from_model("qwen2.5-vl", CUPCAKES, size, rounding="int")
    assert [p.box for p in pixels] == [cookbook25_box(b, iw, ih, size[1], size[0]) for b in ref]


# --- exact round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_model_to_pixels_to_model_is_identity_for_every_integer(model):
    conv = g.convention(model)
    checked = 0
    for size in [(428, 640), (1080, 1920), (7, 1000), (3000, 17), (999, 1001), (28, 5000)]:
        frame = g.model_frame(model, size)
        high = (frame[0] - 1, frame[1] - 1) if conv.high is None else (conv.high, conv.high)
        for k in range(max(high) + 1):
            coords = (min(k, high[1]), min(k, high[0]))  # (x, y)
            px = g.scale_from_frame(coords, frame, size)
            assert g.scale_to_frame(px, size, frame, high=high, relative=conv.relative) == coords, (size, coords)
            checked += 1
        assert g.to_model_coords(model, g.from_model_coords(model, (3, 4, high[1], high[0]), size), size) == (3, 4, high[1], high[0])
    assert checked > 5000


@pytest.mark.parametrize("model", MODELS)
def test_pixels_to_model_to_pixels_within_the_quantisation_step(model):
    rng = random.Random(4)
    for h, w in _sizes(40, seed=5):
        frame = g.model_frame(model, (h, w))
        step = (h / frame[0], w / frame[1])  # original pixels per model unit
        for _ in range(50):
            box = (rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0, w), rng.uniform(0, h))
            back = g.from_model_coords(model, g.to_model_coords(model, box, (h, w)), (h, w))
            for i, (a, b) in enumerate(zip(box, back)):
                s = step[1 - i % 2]
                edge = a / s > frame[1 - i % 2] - 1.5  # clamped to the last value (999 / new-1)
                assert abs(a - b) <= (1.5 if edge else 0.5) * s + 1e-9, (model, (h, w), box, back)


@pytest.mark.parametrize("model", MODELS)
def test_text_round_trip(model):
    conv = g.convention(model)
    # (an unlabelled box goes first: after a labelled run, tags cannot tell it from that label's boxes)
    items = [g.Grounding(None, box=(9, 9, 10, 10)), g.Grounding("dog", box=(1, 2, 30, 40)), g.Grounding("dog", box=(5, 6, 7, 8)),
             g.Grounding("cat", box=(0, 0, 999, 999))]
    if conv.points:
        items += [g.Grounding("nose", point=(11, 12)), g.Grounding("both", box=(1, 1, 2, 2), point=(1, 2), attrs={"color": "red"})]
    assert g.parse_groundings(model, g.format_groundings(model, items)) == items
    if conv.text == "json":
        assert g.parse_groundings(model, g.format_groundings(model, items, fence=False)) == items
        assert g.parse_groundings(model, g.format_groundings(model, [])) == []


def test_tag_text_is_qwen_vl_from_list_format():
    # tokenization_qwen.py from_list_format writes the ref once, then '<box>(%d,%d),(%d,%d)</box>' per box
    items = [g.Grounding("dogs", box=(1, 2, 3, 4)), g.Grounding("dogs", box=(5, 6, 7, 8))]
    assert g.format_groundings("qwen-vl", items) == "<ref>dogs</ref><box>(1,2),(3,4)</box><box>(5,6),(7,8)</box>"


# --- reading model output ---------------------------------------------------------------------------


def test_json_variants_models_emit():
    one = '{"bbox_2d": [1, 2, 3, 4], "label": "a"}'
    expected = [g.Grounding("a", box=(1, 2, 3, 4))]
    for text in (one, f"[{one}]", f"```json\n[{one}]\n```", f"Sure! Here it is:\n```json\n{one}\n```\nAnything else?",
                 f"The answer is {one}. Done.", f"```\n[{one}]\n```"):
        assert g.parse_groundings("qwen3-vl", text) == expected, text
    lines = '```json\n{"point_2d": [5, 6], "label": "p"}\n{"point_2d": [7, 8]}\n```'
    assert g.parse_groundings("qwen2.5-vl", lines) == [g.Grounding("p", point=(5, 6)), g.Grounding(None, point=(7, 8))]
    assert g.parse_groundings("qwen2.5-vl", '{"bbox_2d": [1.5, 2, 3, 4]}')[0].box == (1.5, 2, 3, 4)


def test_tags_after_skip_special_tokens(ref_qwen_tokenizer_file):
    # batch_decode(skip_special_tokens=True) drops the tags; the bare pairs are still read.
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(ref_qwen_tokenizer_file))
    text = "<|object_ref_start|>the dog<|object_ref_end|><|box_start|>(120,345),(560,789)<|box_end|>"
    decoded = tok.decode(tok.encode(text), skip_special_tokens=True)
    assert decoded == "the dog(120,345),(560,789)"
    assert g.parse_groundings("qwen2-vl", decoded) == [g.Grounding(None, box=(120, 345, 560, 789))]
    assert g.parse_groundings("qwen2-vl", text) == [g.Grounding("the dog", box=(120, 345, 560, 789))]


def test_labels_follow_refs_only_when_adjacent():
    text = "<ref>a</ref> <box>(1,2),(3,4)</box><box>(5,6),(7,8)</box> and <box>(9,9),(9,9)</box>"
    assert [x.label for x in g.parse_groundings("qwen-vl", text)] == ["a", "a", None]
    assert g.parse_groundings("qwen-vl", "no boxes here") == []


@pytest.mark.parametrize(
    "model, text, fragment",
    [
        ("qwen2.5-vl", '```json\n[{"bbox_2d": [1, 2, 3', "truncated"),
        ("qwen2.5-vl", "I cannot see a dog.", "no JSON"),
        ("qwen2.5-vl", '[{"bbox_2d": [1, 2, 3]}]', "bbox_2d must be 4 numbers"),
        ("qwen2.5-vl", '[{"label": "dog"}]', "neither bbox_2d nor point_2d"),
        ("qwen2.5-vl", "[1, 2, 3, 4]", "expected an object"),
        ("qwen2.5-vl", '```json\n[{"bbox_2d": [1, 2, 3, 4]}] oops\n```', "not valid JSON"),
        ("qwen3-vl", "<|box_start|>(1,2),(3,4)<|box_end|>", "model='qwen2-vl'"),
        ("qwen3-vl", '[{"bbox_2d": [100, 200, 1800, 900]}]', "outside the model's relative range"),
        ("qwen2-vl", '[{"bbox_2d": [1, 2, 3, 4]}]', "qwen2.5-vl"),
        ("qwen2-vl", "<box>(1,2),(3,4)</box>", "model='qwen-vl'"),
        ("qwen-vl", "<|box_start|>(1,2),(3,4)<|box_end|>", "model='qwen2-vl'"),
        ("qwen2-vl", "<|box_start|>(1,2),(3)<|box_end|>", "(x1,y1),(x2,y2)"),
        ("qwen2-vl", "<|box_start|>(1,2),(3,4)", "unclosed"),
        ("qwen-vl", "<box>(1.5,2),(3,4)</box>", "integers"),
    ],
)
def test_malformed_output_raises_naming_the_text(model, text, fragment):
    with pytest.raises(GroundingParseError) as info:
        g.from_model(model, text, (428, 640))
    assert fragment in str(info.value)
    assert info.value.text and (info.value.text in text or info.value.text.replace(" ", "") in text.replace(" ", ""))


def test_bad_inputs():
    with pytest.raises(GroundingError, match="no point format"):
        g.to_model("qwen2-vl", [(1, 2)], (10, 10))
    with pytest.raises(GroundingError, match="2 or 4 finite numbers"):
        g.to_model("qwen3-vl", [(1, 2, 3)], (10, 10))
    with pytest.raises(GroundingError, match="2 labels for 1"):
        g.to_model("qwen3-vl", [(1, 2, 3, 4)], (10, 10), labels=["a", "b"])
    with pytest.raises(GroundingError, match="rounding"):
        g.from_model_coords("qwen3-vl", (1, 2), (10, 10), rounding="floor")
    with pytest.raises(UnknownNameError, match="qwen2.5-vl"):
        g.convention("llava-1.5")
    assert g.convention("Qwen/Qwen2.5-VL-7B-Instruct").name == "qwen2.5-vl"  # family aliases work too
    # one flat box, numpy arrays, and a path (read for its header only) are accepted
    assert g.to_model("qwen3-vl", np.array([1.0, 2, 3, 4]), (10, 10)) == g.to_model("qwen3-vl", [[1, 2, 3, 4]], (10, 10))


def test_limits_change_qwen25_coordinates_only():
    box, size = (100, 100, 500, 400), (1080, 1920)
    small = g.to_model_coords("qwen2.5-vl", box, size, max_pixels=200704)
    large = g.to_model_coords("qwen2.5-vl", box, size)
    assert small != large
    for model in ("qwen-vl", "qwen2-vl", "qwen3-vl"):
        assert g.to_model_coords(model, box, size, max_pixels=200704) == g.to_model_coords(model, box, size)
