"""The record checks one by one, on real files: roles (ms-swift's and LLaMA-Factory's rules), turns,
tags, grounding objects (ms-swift's documented examples), media (Pillow and PyAV files, symlinks)."""

from __future__ import annotations

import base64
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from dataset_faults import _audio_only, _video
from mmtok.datasets import Sample
from mmtok.datasets.checks import MediaChecker, check_objects, check_roles, check_tags, check_turns


def _s(*roles_contents, images=(), videos=(), objects=None):
    return Sample(messages=[{"role": r, "content": c} for r, c in roles_contents], images=list(images), videos=list(videos), objects=objects)


def _codes(problems):
    return [p.code for p in problems]


def _roles(*roles):
    return Sample(messages=[{"role": r, "content": "x"} for r in roles])


# --- roles ----------------------------------------------------------------------------------------

SWIFT_OK = [
    ("system", "user", "assistant"),
    ("user", "assistant", "user", "assistant"),
    ("user", "user", "assistant"),  # _swift_prepare_inputs merges consecutive user turns
    ("user", "assistant", "assistant"),  # ... and assistant turns
    ("user", "tool_call", "tool_response", "assistant"),  # the agent form of ms-swift's docs
    ("user", "tool_call", "tool_call", "tool_response", "tool_response", "assistant"),
    ("user", "assistant", "tool", "assistant"),
    ("user", "assistant", "user"),  # ms-swift gives a trailing query an empty response
]
SWIFT_BAD = [
    ("bot", "assistant"),
    ("user", "system", "assistant"),
    ("system", "user"),
    ("assistant", "user", "assistant"),
    ("system", "assistant"),
    ("user", "tool_response", "assistant"),
]


@pytest.mark.parametrize("roles", SWIFT_OK)
def test_swift_role_orders_ms_swift_accepts(roles):
    assert check_roles(_roles(*roles), "swift") == []
    assert check_roles(_roles(*roles), "swift-query") == []


@pytest.mark.parametrize("roles", SWIFT_BAD)
def test_swift_role_orders_ms_swift_rejects(roles):
    problems = check_roles(_roles(*roles), "swift")
    assert _codes(problems) and set(_codes(problems)) == {"bad_roles"}


def test_role_messages_name_the_message():
    [p] = check_roles(_roles("user", "bot"), "swift")
    assert "message 1" in p.message and "'bot'" in p.message
    [p] = check_roles(_roles("user", "assistant", "system", "user", "assistant"), "swift")
    assert "message 2" in p.message and "first" in p.message
    [p] = check_roles(_roles("user"), "swift")
    assert "no assistant turn" in p.message
    [p] = check_roles(_roles("assistant", "user", "assistant"), "swift")
    assert "message 0" in p.message
    assert _codes(check_roles(Sample(messages=[]), "swift")) == ["bad_roles"]


@pytest.mark.parametrize("fmt", ["sharegpt", "llava"])
def test_strict_alternation_of_llama_factory_and_llava(fmt):
    # SharegptDatasetConverter: turn k is user/observation for even k, assistant/function_call for odd k,
    # and the count is even
    assert check_roles(_roles("system", "user", "assistant"), fmt) == []
    assert check_roles(_roles("user", "assistant", "user", "assistant"), fmt) == []
    assert check_roles(_roles("user", "tool_call", "tool_response", "assistant"), fmt) == []
    for bad in [("user", "user", "assistant"), ("user", "assistant", "user"), ("assistant", "user"), ("user", "assistant", "assistant")]:
        assert _codes(check_roles(_roles(*bad), fmt)) == ["bad_roles"], bad
    [p] = check_roles(_roles("user", "assistant", "user"), fmt)
    assert "no answer" in p.message and "message 2" in p.message


def test_sharegpt_system_column_and_system_turn_both_lead():
    # LLaMA-Factory takes a leading system turn over the system column; neither is out of place
    assert check_roles(_roles("system", "system", "user", "assistant"), "sharegpt") == []
    assert _codes(check_roles(_roles("system", "system", "user", "assistant"), "swift")) == ["bad_roles"]


# --- turns and tags ---------------------------------------------------------------------------------


def test_empty_turns():
    assert check_turns(_s(("user", "<image>"), ("assistant", "ok"), images=["a.jpg"])) == []  # a media tag is content
    assert check_turns(_s(("system", ""), ("user", "q"), ("assistant", "a"))) == []  # "" system: no system prompt
    problems = check_turns(_s(("user", " \n\t"), ("assistant", ""), ("user", None), ("assistant", "fine")))
    assert _codes(problems) == ["empty_turn"] * 3
    assert [p.message.split(" ")[1] for p in problems] == ["0", "1", "2"]
    assert "whitespace" in problems[0].message and "null" in problems[2].message


def test_non_string_content_is_a_format_problem():
    sample = Sample(messages=[{"role": "user", "content": [{"type": "text", "text": "x"}]}, {"role": "assistant"}])
    assert _codes(check_turns(sample)) == ["bad_format", "bad_format"]
    # ms-swift's agent rows may hold the tool call / tool response as a JSON object
    tools = _s(("user", "q"), ("tool_call", {"name": "f", "arguments": {}}), ("tool_response", [{"ok": 1}]), ("assistant", "a"))
    assert check_turns(tools) == []


def test_tag_counts():
    assert check_tags(_s(("user", "<image> and <image><video>"), ("assistant", "a"), images=["a", "b"], videos=["v"])) == []
    [p] = check_tags(_s(("user", "<image><image>"), ("assistant", "a"), images=["a"]))
    assert p.code == "tag_mismatch" and "2 <image> tag(s) for 1 image(s)" in p.message
    assert _codes(check_tags(_s(("user", "hi"), ("assistant", "a"), images=["a"], videos=["v"]))) == ["tag_mismatch"] * 2
    # tags in a system message count too (ms-swift counts the whole conversation)
    assert check_tags(_s(("system", "<image>"), ("user", "q"), ("assistant", "a"), images=["a"])) == []


# --- grounding ----------------------------------------------------------------------------------------

# ms-swift's documented grounding rows (docs/source_en/Customization/Custom-dataset.md#grounding and the
# Qwen3-VL best practice): more refs than <ref-object> tags is what the docs write
DOC_ROWS = [
    (
        [("user", "<image>Describe the image."), ("assistant", "<ref-object><bbox> and <ref-object><bbox> are playing on the beach")],
        {"ref": ["a dog", "a woman"], "bbox": [[331.5, 761.4, 853.5, 1594.8], [676.5, 685.8, 1099.5, 1427.4]]},
    ),
    (
        [("user", "<image>Find the <ref-object> in the image"), ("assistant", "<bbox><bbox>")],
        {"ref": ["sheep"], "bbox": [[90.9, 160.8, 135, 212.8], [360.9, 480.8, 495, 532.8]]},
    ),
    ([("user", "<image>Help me open Google Chrome"), ("assistant", "Action: click(start_box='<bbox>')")], {"ref": [], "bbox": [[615, 226]]}),
    (
        [("user", "<image>Locate the <ref-object> in the image"), ("assistant", '[\n\t{"bbox_2d": <bbox>, "label": "<ref-object>"},\n\t{"bbox_2d": <bbox>, "label": "<ref-object>"}\n]')],
        {"ref": ["sheep", "sheep", "sheep"], "bbox": [[90.9, 160.8, 135, 212.8], [360.9, 480.8, 495, 532.8]]},
    ),
]


@pytest.mark.parametrize("messages, objects", DOC_ROWS)
def test_ms_swift_documented_grounding_rows_pass(messages, objects):
    assert check_objects(_s(*messages, images=["x.jpg"], objects=objects), [(1600, 1200)]) == []


def _ground(box, bbox_type=None, sizes=((240, 320),), **extra):
    objects = {"ref": ["cat"], "bbox": [box], **extra}
    if bbox_type:
        objects["bbox_type"] = bbox_type
    sample = _s(("user", "<image>" * len(sizes) + "the <ref-object>"), ("assistant", "<bbox>"), images=["i"] * len(sizes), objects=objects)
    return check_objects(sample, list(sizes))


def test_box_ranges_inclusive_edges():
    assert _ground([0, 0, 320, 240]) == []  # real: [0, W] x [0, H]
    assert _ground([320, 240]) == []
    assert _ground([0, 0, 1, 1], "norm1") == []
    assert _ground([0, 0, 1000, 1000], "norm1000") == []
    assert _ground([5, 5, 5, 5]) == []  # a degenerate box is not reversed
    assert _ground([10, 10, 400, 300], sizes=[None]) == []  # size unknown: real boxes not range-checked


@pytest.mark.parametrize(
    "box, bbox_type, word",
    [
        ([0, 0, 321, 240], None, "outside image 1 (320 x 240"),
        ([0, 0, 320, 241], "real", "outside image 1"),
        ([-1, 0, 10, 10], "real", "outside"),
        ([0, 0, 1.01, 1], "norm1", "outside [0, 1]"),
        ([0, 0, 1000.5, 3], "norm1000", "outside [0, 1000]"),
        ([1, 2, 3], None, "3 values"),
        ([1], None, "1 values"),
        ([1, "2", 3, 4], None, "not a finite number"),
        ([1, True, 3, 4], None, "not a finite number"),
        ([1, float("nan"), 3, 4], None, "not a finite number"),
        ([100, 20, 10, 120], None, "x2 < x1"),
        ([10, 120, 100, 20], None, "y2 < y1"),
        ([1, 2, 3, 4], "pixels", "unknown bbox_type 'pixels'"),
        ("1,2,3,4", None, "values"),
    ],
)
def test_bad_boxes(box, bbox_type, word):
    problems = _ground(box, bbox_type)
    assert _codes(problems) == ["bad_bbox"] and word in problems[0].message, problems


def test_real_boxes_use_the_size_of_their_image():
    sizes = [(240, 320), (300, 200)]
    assert _ground([250, 10, 260, 20], image_id=[0], sizes=sizes) == []
    [p] = _ground([250, 10, 260, 20], image_id=[1], sizes=sizes)
    assert "image 2 (200 x 300" in p.message
    [p] = _ground([1, 1, 2, 2], image_id=[2], sizes=sizes)
    assert "image_id 2" in p.message
    assert _codes(_ground([1, 1, 2, 2], image_id=[0, 1], sizes=sizes)) == ["bad_bbox"]  # one image_id per box
    assert _codes(_ground([1, 1, 2, 2], sizes=[])) == ["bad_bbox"]  # boxes but no image


def test_tag_counts_against_objects():
    base = {"ref": ["cat"], "bbox": [[1, 1, 2, 2]]}
    ok = _s(("user", "<image><ref-object>"), ("assistant", "<bbox>"), images=["i"], objects=base)
    assert check_objects(ok, [(10, 10)]) == []
    more_bbox = _s(("user", "<image><ref-object>"), ("assistant", "<bbox><bbox>"), images=["i"], objects=base)
    assert "2 <bbox> tag(s) but 1 box(es)" in check_objects(more_bbox, [(10, 10)])[0].message
    more_ref = _s(("user", "<image><ref-object> <ref-object>"), ("assistant", "<bbox>"), images=["i"], objects=base)
    assert "2 <ref-object> tag(s) but 1 ref(s)" in check_objects(more_ref, [(10, 10)])[0].message
    no_objects = _s(("user", "<image><ref-object>"), ("assistant", "<bbox>"), images=["i"])
    assert _codes(check_objects(no_objects, [(10, 10)])) == ["bad_bbox"]
    assert _codes(check_objects(_s(("user", "<image>"), ("assistant", "a"), images=["i"], objects={"ref": []}), [(1, 1)])) == ["bad_bbox"]


def test_every_bad_box_is_reported():
    objects = {"ref": ["a", "b", "c"], "bbox": [[1, 2, 3], [5, 5, 1, 1], [1, 1, 2, 2]]}
    sample = _s(("user", "<image>"), ("assistant", "<bbox><bbox><bbox>"), images=["i"], objects=objects)
    problems = check_objects(sample, [(10, 10)])
    assert [p.message.split(" ")[1] for p in problems] == ["0", "1"]


# --- media ------------------------------------------------------------------------------------------


@pytest.fixture
def media_root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)).save(root / "sub" / "ok.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8)).save(root / "ok.png")
    data = (root / "sub" / "ok.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(data[: len(data) // 2])
    (root / "junk.jpg").write_bytes(b"definitely not an image" * 50)
    (root / "adir.jpg").mkdir()
    (tmp_path / "out.png").write_bytes((root / "ok.png").read_bytes())
    os.symlink(tmp_path / "out.png", root / "link_out.png")
    os.symlink(root / "sub" / "ok.jpg", root / "link_in.jpg")
    return root


def test_images_decode_and_header(media_root):
    decode, header = MediaChecker(str(media_root), "decode"), MediaChecker(str(media_root), "header")
    for checker in (decode, header):
        problems, h = checker.image(0, "sub/ok.jpg")
        assert problems == [] and h.size == (60, 80)
        assert checker.image(0, "ok.png")[1].size == (30, 20)
        assert checker.image(0, str(media_root / "ok.png"))[0] == []  # absolute, inside the root
        assert checker.image(0, "file://" + str(media_root / "ok.png"))[0] == []
        assert checker.image(0, "link_in.jpg")[0] == []  # a symlink that stays inside
        assert checker.image(0, {"path": "ok.png", "bytes": None})[1].size == (30, 20)
        [p] = checker.image(2, "nope/none.jpg")[0]
        assert p.code == "missing_media" and "image 3 (nope/none.jpg)" in p.message and "--root" in p.message
        assert _codes(checker.image(0, "junk.jpg")[0]) == ["corrupt_media"]
        assert _codes(checker.image(0, "adir.jpg")[0]) == ["corrupt_media"]
        assert _codes(checker.image(0, 7)[0]) == ["bad_format"]
        assert checker.image(0, "https://example.com/x.jpg") == ([], None)  # URLs are not files
    # a cut JPEG keeps its header: only decoding finds it
    assert header.image(0, "cut.jpg")[0] == []
    [p] = decode.image(0, "cut.jpg")[0]
    assert p.code == "corrupt_media" and "truncated" in p.message


def test_data_urls(media_root):
    checker = MediaChecker(str(media_root), "decode")
    good = "data:image/png;base64," + base64.b64encode((media_root / "ok.png").read_bytes()).decode()
    assert checker.image(0, good)[1].size == (30, 20)
    bad = "data:image/png;base64," + base64.b64encode(b"nope" * 10).decode()
    assert _codes(checker.image(0, bad)[0]) == ["corrupt_media"]


@pytest.mark.parametrize("media", ["decode", "header", "none"])
def test_path_escapes(media_root, media):
    checker = MediaChecker(str(media_root), media)
    for item in ["../out.png", str(media_root.parent / "out.png"), "link_out.png", "sub/../../out.png", "../root/../out.png"]:
        [p] = checker.image(1, item)[0]
        assert p.code == "path_escape" and "image 2" in p.message and "outside the dataset root" in p.message, item
    assert checker.image(0, "../root/ok.png")[0] == []
    assert checker.image(0, "../rootx/ok.png")[0][0].code == "path_escape"  # a sibling sharing the prefix
    [p] = checker.video(0, "../x.mp4")[0]
    assert p.code == "path_escape" and "video 1" in p.message


def test_media_none_skips_file_checks(media_root):
    checker = MediaChecker(str(media_root), "none")
    assert checker.image(0, "missing.jpg") == ([], None)
    assert checker.image(0, "junk.jpg") == ([], None)
    assert checker.video(0, "missing.mp4") == ([], None)


def test_videos(tmp_path):
    _video(tmp_path / "v.mp4")
    _audio_only(tmp_path / "a.mkv")
    data = (tmp_path / "v.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.mp4").write_bytes(os.urandom(4000))
    for media in ("decode", "header"):
        checker = MediaChecker(str(tmp_path), media)
        problems, meta = checker.video(0, "v.mp4")
        assert problems == [] and (meta.total_frames, meta.height, meta.width) == (20, 64, 96)
        [p] = checker.video(0, "a.mkv")[0]
        assert p.code == "video_unreadable" and "no video stream" in p.message
        assert _codes(checker.video(0, "cut.mp4")[0]) == ["video_unreadable"]
        assert _codes(checker.video(0, "junk.mp4")[0]) == ["video_unreadable"]
        assert _codes(checker.video(1, "gone.mp4")[0]) == ["missing_media"]


def test_results_are_cached_per_file_and_the_cache_is_not_pickled(media_root):
    checker = MediaChecker(str(media_root), "decode")
    assert checker.image(0, "ok.png")[0] == []
    os.remove(media_root / "ok.png")
    assert checker.image(0, "ok.png")[0] == []  # from the cache: the file is read once per task
    clone = pickle.loads(pickle.dumps(checker))
    assert _codes(clone.image(0, "ok.png")[0]) == ["missing_media"]


def test_bad_media_mode():
    from mmtok.errors import InvalidOptionError

    with pytest.raises(InvalidOptionError, match="media must be one of"):
        MediaChecker("/tmp", "full")
