"""Record conversion and grounding boxes, against published worked examples and ms-swift's own code.

* ms-swift docs/source_en/Customization/Custom-dataset.md, "Grounding", publishes each of three
  records twice: in Qwen2-VL's native text (option 1) and in ms-swift's placeholder + objects form
  (option 2). Their numbers fix the image sizes (1800 x 1500, 800 x 900, 2000 x 2500, height x width:
  331.5 / 221 * 1000 = 1500, ...), so converting option 2 for qwen2-vl must give option 1 verbatim.
* mmtok/sequence/grounding.py's worked example from QwenLM's process_bbox.ipynb: [146, 137, 615, 415]
  on a 428 x 640 image -> qwen2-vl (228,320),(961,970); qwen2.5-vl [147, 134, 619, 407].
* ms-swift's Template.normalize_bbox, _get_bbox_str and Qwen2VLTemplate.replace_ref / replace_bbox
  (swift/template/base.py, swift/template/templates/qwen.py), transcribed below, rendered with the
  resized size from transformers' smart_resize for Qwen2.5-VL (whose images fetch_image resizes first).
"""

from __future__ import annotations

import json
import pickle
import random

import pytest
from PIL import Image

from mmtok.cli.main import main
from mmtok.datasets import RecordError, get_format
from mmtok.datasets.convert import GroundingModelNeededError, convert_record
from mmtok.datasets.task import RecordTask

SWIFT = get_format("swift")

# Custom-dataset.md, "Grounding", option 1 (qwen2-vl text) and option 2 (ms-swift form), verbatim
OPTION_1 = [
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "<image>Describe the image."}, {"role": "assistant", "content": "<|object_ref_start|>a dog<|object_ref_end|><|box_start|>(221,423),(569,886)<|box_end|> and <|object_ref_start|>a woman<|object_ref_end|><|box_start|>(451,381),(733,793)<|box_end|> are playing on the beach"}], "images": ["/xxx/x.jpg"]}',
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "<image>Find the <|object_ref_start|>sheep<|object_ref_end|> in the image"}, {"role": "assistant", "content": "<|box_start|>(101,201),(150,266)<|box_end|><|box_start|>(401,601),(550,666)<|box_end|>"}], "images": ["/xxx/x.jpg"]}',
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "<image>Help me open Google Chrome"}, {"role": "assistant", "content": "Action: click(start_box=\'<|box_start|>(246,113)<|box_end|>\')"}], "images": ["/xxx/x.jpg"]}',
]
OPTION_2 = [
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "<image>Describe the image."}, {"role": "assistant", "content": "<ref-object><bbox> and <ref-object><bbox> are playing on the beach"}], "images": ["/xxx/x.jpg"], "objects": {"ref": ["a dog", "a woman"], "bbox": [[331.5, 761.4, 853.5, 1594.8], [676.5, 685.8, 1099.5, 1427.4]]}}',
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "<image>Find the <ref-object> in the image"}, {"role": "assistant", "content": "<bbox><bbox>"}], "images": ["/xxx/x.jpg"], "objects": {"ref": ["sheep"], "bbox": [[90.9, 160.8, 135, 212.8], [360.9, 480.8, 495, 532.8]]}}',
    '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "<image>Help me open Google Chrome"}, {"role": "assistant", "content": "Action: click(start_box=\'<bbox>\')"}], "images": ["/xxx/x.jpg"], "objects": {"ref": [], "bbox": [[615, 226]]}}',
]
SIZES = [(1800, 1500), (800, 900), (2000, 2500)]  # (height, width) the two options imply


def _image(path, size, photos=None):
    h, w = size
    image = Image.fromarray(photos[0][1]).resize((w, h)) if photos else Image.new("RGB", (w, h), (90, 140, 200))
    image.save(path, quality=85)
    return str(path)


@pytest.mark.parametrize("i", range(3))
def test_swift_docs_option_2_becomes_option_1(tmp_path, i):
    path = _image(tmp_path / "x.jpg", SIZES[i])
    sample = SWIFT.read({**json.loads(OPTION_2[i]), "images": [path]})
    expected = {**json.loads(OPTION_1[i]), "images": [path]}
    assert convert_record(sample, "swift", model="qwen2-vl", boxes="model") == expected
    # to a format without objects, the same text is written without --boxes
    llava = convert_record(sample, "llava", model="qwen2-vl")
    assert [t["value"] for t in llava["conversations"]] == [m["content"] for m in expected["messages"]]


WORKED = {"messages": [{"role": "user", "content": "<image>Find the <ref-object>."}, {"role": "assistant", "content": "<bbox>"}],
          "images": ["photo.jpg"], "objects": {"ref": ["dog"], "bbox": [[146, 137, 615, 415]]}}  # fmt: skip


@pytest.fixture
def worked_dir(tmp_path, photos):
    _image(tmp_path / "photo.jpg", (428, 640), photos)
    return str(tmp_path)


@pytest.mark.parametrize(
    "model,bbox_format,ref,box",
    [
        ("qwen2-vl", "auto", "<|object_ref_start|>dog<|object_ref_end|>", "<|box_start|>(228,320),(961,970)<|box_end|>"),
        ("qwen-vl", "auto", "<ref>dog</ref>", "<box>(228,320),(961,970)</box>"),
        ("qwen2.5-vl", "auto", "dog", "[147, 134, 619, 407]"),
        ("qwen2.5-vl", "legacy", "<|object_ref_start|>dog<|object_ref_end|>", "<|box_start|>(147,134),(619,407)<|box_end|>"),
        ("qwen3-vl", "auto", "dog", "[228, 320, 961, 970]"),
        ("qwen2-vl", "new", "dog", "[228, 320, 961, 970]"),
    ],
)
@pytest.mark.parametrize("target", ["sharegpt", "alpaca", "llava"])
def test_worked_example_through_a_record(worked_dir, target, model, bbox_format, ref, box):
    sample = SWIFT.read(json.loads(json.dumps(WORKED)))
    out = convert_record(sample, target, model=model, root=worked_dir, bbox_format=bbox_format)
    back = get_format(target).read(out)
    assert back.messages == [{"role": "user", "content": f"<image>Find the {ref}."}, {"role": "assistant", "content": box}]
    assert back.images == ["photo.jpg"] and back.objects is None


def test_norm1_boxes(worked_dir):
    norm1 = {**WORKED, "images": ["missing.jpg"], "objects": {"ref": ["dog"], "bbox": [[146 / 640, 137 / 428, 615 / 640, 415 / 428]], "bbox_type": "norm1"}}
    sample = SWIFT.read(norm1)
    # relative models need no image size: the missing file is never opened
    out = convert_record(sample, "sharegpt", model="qwen2-vl", root=worked_dir)
    assert out["conversations"][1]["value"] == "<|box_start|>(228,320),(961,970)<|box_end|>"
    with pytest.raises(RecordError) as e:  # qwen2.5-vl writes resized pixels: it needs the image's size
        convert_record(sample, "sharegpt", model="qwen2.5-vl", root=worked_dir)
    assert e.value.problem.code == "missing_media"
    sample.images = ["photo.jpg"]
    assert convert_record(sample, "sharegpt", model="qwen2.5-vl", root=worked_dir)["conversations"][1]["value"] == "[147, 134, 619, 407]"


def test_norm1000_boxes_and_keeping_them(worked_dir):
    record = {**WORKED, "objects": {"ref": ["dog"], "bbox": [[228, 320, 961, 970]], "bbox_type": "norm1000"}}
    sample = SWIFT.read(record)
    assert convert_record(sample, "llava", model="qwen2-vl", root=worked_dir)["conversations"][1]["value"] == "<|box_start|>(228,320),(961,970)<|box_end|>"
    kept = convert_record(sample, "swift", root=worked_dir)  # ms-swift knows real and norm1 only
    assert kept["objects"] == {"ref": ["dog"], "bbox": [[0.228, 0.32, 0.961, 0.97]], "bbox_type": "norm1"}


def test_multi_image_image_id(tmp_path, photos):
    _image(tmp_path / "a.jpg", (428, 640), photos)
    _image(tmp_path / "b.jpg", SIZES[0], photos)
    record = {
        "messages": [{"role": "user", "content": "<image><image>Where are they?"}, {"role": "assistant", "content": "<ref-object><bbox>; <ref-object><bbox>"}],
        "images": ["a.jpg", "b.jpg"],
        "objects": {"ref": ["first", "second"], "bbox": [[146, 137, 615, 415], [331.5, 761.4, 853.5, 1594.8]], "image_id": [0, 1]},
    }
    out = convert_record(SWIFT.read(record), "swift", model="qwen2-vl", root=str(tmp_path), boxes="model")
    assert out["messages"][1]["content"] == (
        "<|object_ref_start|>first<|object_ref_end|><|box_start|>(228,320),(961,970)<|box_end|>; "
        "<|object_ref_start|>second<|object_ref_end|><|box_start|>(221,423),(569,886)<|box_end|>"
    )
    assert "objects" not in out
    record["objects"]["image_id"] = [1, 0]  # the second box does not fit in the 428 x 640 image
    with pytest.raises(RecordError) as e:
        convert_record(SWIFT.read(record), "swift", model="qwen2-vl", root=str(tmp_path), boxes="model")
    assert e.value.problem.code == "bad_bbox" and "outside image 1" in str(e.value)


def test_objects_kept_where_the_format_holds_them(worked_dir):
    for target in ("swift", "swift-query"):
        out = convert_record(SWIFT.read(json.loads(json.dumps(WORKED))), target, root=worked_dir)
        assert out["objects"] == WORKED["objects"]
        assert get_format(target).read(out).messages == WORKED["messages"]
    # pyarrow stores objects as a JSON string in hub datasets (ms-swift FAQ Q55): read, then kept as a dict
    as_string = {**WORKED, "objects": json.dumps(WORKED["objects"])}
    assert convert_record(SWIFT.read(as_string), "swift")["objects"] == WORKED["objects"]


def test_without_model_or_holder_a_typed_error(worked_dir):
    sample = SWIFT.read(json.loads(json.dumps(WORKED)))
    with pytest.raises(GroundingModelNeededError) as e:
        convert_record(sample, "llava", root=worked_dir)
    assert e.value.problem.code == "bad_bbox" and "--model" in str(e.value)
    with pytest.raises(RecordError) as e:
        convert_record(sample, "sharegpt", root=worked_dir, boxes="keep")
    assert e.value.problem.code == "bad_bbox"


@pytest.mark.parametrize(
    "objects,images,code",
    [
        ({"ref": ["dog"], "bbox": [[146, 137, 615]]}, ["photo.jpg"], "bad_bbox"),  # three numbers
        ({"ref": ["dog"], "bbox": [[146, 137, "615", 415]]}, ["photo.jpg"], "bad_bbox"),
        ({"ref": ["dog"], "bbox": [[146, 137, 615, 415]], "bbox_type": "norm100"}, ["photo.jpg"], "bad_bbox"),
        ({"ref": ["dog"], "bbox": [[146, 137, 615, 429]]}, ["photo.jpg"], "bad_bbox"),  # below the image
        ({"ref": ["dog"], "bbox": [[0.1, 0.1, 1.2, 0.5]], "bbox_type": "norm1"}, ["photo.jpg"], "bad_bbox"),
        ({"ref": ["dog"], "bbox": [[615, 137, 146, 415]]}, ["photo.jpg"], "bad_bbox"),  # reversed corners
        ({"ref": ["dog"], "bbox": []}, ["photo.jpg"], "bad_bbox"),  # a <bbox> with no box
        ({"ref": [], "bbox": [[146, 137, 615, 415]]}, ["photo.jpg"], "bad_bbox"),  # a <ref-object> with no ref
        ({"ref": ["dog"], "bbox": [[146, 137, 615, 415]], "image_id": [1]}, ["photo.jpg"], "bad_bbox"),
        ({"ref": ["dog"], "bbox": [[146, 137, 615, 415]]}, ["nowhere.jpg"], "missing_media"),
        ({"ref": ["dog"], "bbox": [[146, 137, 615, 415]]}, ["not_an_image.jpg"], "corrupt_media"),
        ("not a dict", ["photo.jpg"], "bad_bbox"),
    ],
)
def test_boxes_that_cannot_convert(worked_dir, objects, images, code):
    with open(f"{worked_dir}/not_an_image.jpg", "w") as f:
        f.write("hello")
    sample = SWIFT.read(json.loads(json.dumps(WORKED)))
    sample.objects, sample.images = objects, images
    with pytest.raises(RecordError) as e:
        convert_record(sample, "sharegpt", model="qwen2-vl", root=worked_dir)
    assert e.value.problem.code == code


# --- ms-swift's own rendering, transcribed (swift/template/base.py, templates/qwen.py) ---------------
def swift_normalize_bbox(objects, width_list, height_list, norm_bbox, images_wh):
    bbox_list = objects["bbox"]
    bbox_type = objects.pop("bbox_type", None) or "real"
    image_id_list = objects.pop("image_id", None) or []
    image_id_list += [0] * (len(bbox_list) - len(image_id_list))
    for bbox, image_id in zip(bbox_list, image_id_list):
        if bbox_type == "norm1":
            width, height = 1, 1
        else:
            width, height = width_list[image_id], height_list[image_id]
        for i, (x, y) in enumerate(zip(bbox[::2], bbox[1::2])):
            if norm_bbox == "norm1000":
                norm_width, norm_height = 1000, 1000
            elif norm_bbox == "none":
                norm_width, norm_height = images_wh[image_id]  # image.width, image.height after fetch_image
            bbox[2 * i] = int(round(x / width * norm_width))
            bbox[2 * i + 1] = int(round(y / height * norm_height))


def swift_get_bbox_str(bbox):
    point = []
    for x, y in zip(bbox[::2], bbox[1::2]):
        point.append(f"({x},{y})")
    return ",".join(point)


def swift_render(text, objects, bbox_format):
    """_pre_tokenize's placeholder loop with Qwen2VLTemplate.replace_ref / replace_bbox."""
    out, ref_idx, bbox_idx = "", 0, 0
    for part in text.replace("<ref-object>", "\0<ref-object>\0").replace("<bbox>", "\0<bbox>\0").split("\0"):
        if part == "<ref-object>":
            ref = objects["ref"][ref_idx]
            out += f"<|object_ref_start|>{ref}<|object_ref_end|>" if bbox_format == "legacy" else ref
            ref_idx += 1
        elif part == "<bbox>":
            bbox = objects["bbox"][bbox_idx]
            out += f"<|box_start|>{swift_get_bbox_str(bbox)}<|box_end|>" if bbox_format == "legacy" else str(bbox)
            bbox_idx += 1
        else:
            out += part
    return out


@pytest.mark.parametrize("model,norm_bbox,bbox_format", [("qwen2-vl", "norm1000", "legacy"), ("qwen2.5-vl", "none", "legacy"), ("qwen2.5-vl", "none", "new"), ("qwen3-vl", "norm1000", "new")])
def test_matches_ms_swift_rendering(tmp_path, model, norm_bbox, bbox_format):
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    rng = random.Random(f"{model}-{bbox_format}")
    for case in range(12):
        sizes = [(rng.randint(60, 900), rng.randint(60, 900)) for _ in range(2)]
        paths = [_image(tmp_path / f"{case}-{i}.png", s) for i, s in enumerate(sizes)]
        bbox_type = rng.choice(["real", "norm1"])
        boxes, image_id = [], []
        for _ in range(3):
            j = rng.randrange(2)
            h, w = (1, 1) if bbox_type == "norm1" else sizes[j]
            x1, x2 = sorted(rng.uniform(0, w) for _ in range(2))
            y1, y2 = sorted(rng.uniform(0, h) for _ in range(2))
            boxes.append([x1, y1, x2, y2] if rng.random() < 0.8 else [x1, y1])
            image_id.append(j)
        objects = {"ref": ["cat", "a red car"], "bbox": boxes, "bbox_type": bbox_type, "image_id": image_id}
        text = "<image><image>Find <ref-object> and <ref-object>: <bbox>, <bbox> and <bbox>."
        record = {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}], "images": paths, "objects": objects}
        ours = convert_record(SWIFT.read(json.loads(json.dumps(record))), "sharegpt", model=model, bbox_format=bbox_format)
        resized = [smart_resize(h, w, factor=28, min_pixels=3136, max_pixels=12845056) for h, w in sizes]
        theirs = json.loads(json.dumps(objects))
        swift_normalize_bbox(theirs, [w for _, w in sizes], [h for h, _ in sizes], norm_bbox, [(w, h) for h, w in resized])
        if norm_bbox == "none":  # the one deliberate difference: the official notebook's clamp to [0, new - 1]
            for box, j in zip(theirs["bbox"], image_id):
                box[:] = [min(v, resized[j][1 - k % 2] - 1) for k, v in enumerate(box)]
        assert ours["conversations"][0]["value"] == swift_render(text, theirs, bbox_format), (case, sizes, objects)


# --- the command ------------------------------------------------------------------------------------
def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def test_cli_convert_keeps_every_record(tmp_path, photos, capsys):
    _image(tmp_path / "photo.jpg", (428, 640), photos)
    records = [
        json.dumps(WORKED),
        '{"messages": [{"role": "robot", "content": "x"}]}',
        '{"instruction": "Say hi.", "input": "", "output": "Hi."}',
        "{broken",
        json.dumps({**WORKED, "objects": {"ref": ["dog"], "bbox": [[1, 2, 3]]}}),
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(records) + "\n")
    out = tmp_path / "out" / "llava.jsonl"
    code = main(["data", "convert", str(tmp_path / "data.jsonl"), "--to", "llava", "--model", "qwen2-vl", "--out", str(out), "--json", "--workers", "2"])
    assert code == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["records"] == 5 and summary["clean"] == 2 and summary["rejected"] == 3
    converted, rejects = _lines(out), _lines(str(out) + ".rejects.jsonl")
    assert converted[0]["conversations"][1]["value"] == "<|box_start|>(228,320),(961,970)<|box_end|>"
    assert converted[1] == {"conversations": [{"from": "human", "value": "Say hi."}, {"from": "gpt", "value": "Hi."}]}
    assert [r["line"] for r in rejects] == [2, 4, 5]
    assert [r["reasons"][0]["code"] for r in rejects] == ["bad_roles", "bad_json", "bad_bbox"]
    assert not (tmp_path / "out" / "llava.jsonl.partial").exists()


def test_cli_convert_a_dataset_info_entry(tmp_path, photos, capsys):
    from test_dataset_info import DATASET_INFO, MLLM_DEMO

    (tmp_path / "dataset_info.json").write_text(DATASET_INFO)
    (tmp_path / "mllm_demo.json").write_text(MLLM_DEMO)
    (tmp_path / "mllm_demo_data").mkdir()
    for i in (1, 2, 3):
        _image(tmp_path / "mllm_demo_data" / f"{i}.jpg", (300 + i, 400), photos)
    out = tmp_path / "demo.jsonl"
    assert main(["data", "convert", str(tmp_path), "--name", "mllm_demo", "--to", "alpaca", "--out", str(out), "--media", "decode"]) == 0
    rows = _lines(out)
    assert [r["images"] for r in rows] == [["mllm_demo_data/1.jpg"], ["mllm_demo_data/2.jpg"], ["mllm_demo_data/3.jpg"]]
    assert rows[0]["instruction"] == "What are they doing?" and rows[0]["history"] == [["<image>Who are they?", "They're Kane and Gretzka from Bayern Munich."]]
    assert not (tmp_path / "demo.jsonl.rejects.jsonl").exists()
    assert main(["data", "convert", str(tmp_path), "--to", "alpaca", "--out", str(out)]) == 2  # --name needed
    assert "mllm_demo" in capsys.readouterr().err


def test_cli_boxes_model_needs_model(tmp_path, capsys):
    (tmp_path / "d.jsonl").write_text(json.dumps(WORKED) + "\n")
    assert main(["data", "convert", str(tmp_path / "d.jsonl"), "--to", "swift", "--boxes", "model", "--out", str(tmp_path / "o.jsonl")]) == 2
    assert "--model" in capsys.readouterr().err


def test_convert_task_pickles_and_converts(worked_dir):
    task = RecordTask(root=worked_dir, media="none", output_format="sharegpt", convert_options={"model": "qwen2.5-vl", "bbox_format": "legacy"})
    task = pickle.loads(pickle.dumps(task))
    out = task({"line": [1], "text": [json.dumps(WORKED)]})
    assert out["ok"] == [True]
    assert json.loads(out["output"][0])["conversations"][1]["value"] == "<|box_start|>(147,134),(619,407)<|box_end|>"
