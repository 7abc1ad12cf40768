"""Dataset length statistics, the --suggest-max-pixels search and the histogram PNG.

Golden values: numpy's percentiles over planted lengths; transformers 5.23's own smart_resize in a
brute-force scan of every max_pixels on the grid; transformers' Qwen2VLProcessor's len(input_ids) for
real photos at the suggested budget; the histogram's pixels read back against planted counts."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image

from mmtok.datasets.histogram import COLORS, LINE, histogram_png
from mmtok.datasets.measure import Measurer
from mmtok.datasets.sample import Sample
from mmtok.datasets.stats import compare, image_tokens, model_stats, suggest_max_pixels, table_rows
from mmtok.errors import InvalidOptionError
from mmtok.vision.families import get_family


# --- statistics ------------------------------------------------------------------------------------
def planted_columns(seed=0, n=2000):
    rng = np.random.default_rng(seed)
    text = rng.integers(10, 3000, n)
    visual = rng.choice([0, 66, 258, 1298], n)
    total = text + visual
    bad = rng.random(n) < 0.05
    text[bad] = visual[bad] = total[bad] = -1
    return {"m/text_tokens": text.tolist(), "m/visual_tokens": visual.tolist(), "m/total_tokens": total.tolist()}, bad


def test_model_stats_against_numpy():
    columns, bad = planted_columns()
    stats = model_stats(columns, "m", max_length=2048)
    good = ~bad
    assert stats.records == 2000 and stats.unmeasurable == int(bad.sum())
    for kind in ("text", "visual", "total"):
        values = np.asarray(columns[f"m/{kind}_tokens"])[good]
        summary = getattr(stats, kind)
        assert summary.count == good.sum()
        assert summary.mean == pytest.approx(sum(values.tolist()) / len(values))
        assert [summary.p50, summary.p90, summary.p95, summary.p99] == pytest.approx(list(np.percentile(values, [50, 90, 95, 99])))
        assert summary.max == max(values.tolist())
    totals = [t for t in columns["m/total_tokens"] if t >= 0]
    assert stats.over == sum(t > 2048 for t in totals)
    assert stats.over_share == pytest.approx(stats.over / len(totals))
    d = stats.to_dict()
    assert d["over_max_length"] == stats.over and d["unmeasurable"] == int(bad.sum())
    json.dumps(d)


def test_comparison_table_and_missing_column():
    columns, _ = planted_columns(1, 50)
    columns.update({k.replace("m/", "n/"): [v * 2 if v >= 0 else -1 for v in vs] for k, vs in columns.items()})
    header, rows = table_rows(compare(columns, ["m", "n"], max_length=100))
    assert header[-2:] == ["over max", "share"]
    assert [r[0] for r in rows] == ["m", "", "", "n", "", ""]
    assert rows[2][-2] == f"{model_stats(columns, 'm', 100).over:,}"
    with pytest.raises(InvalidOptionError, match="models=\\['x'\\]"):
        model_stats(columns, "x")


def test_all_unmeasurable():
    stats = model_stats({"m/text_tokens": [-1], "m/visual_tokens": [-1], "m/total_tokens": [-1]}, "m", 10)
    assert stats.total.count == 0 and stats.total.mean is None and stats.over == 0 and stats.over_share is None


# --- suggest_max_pixels ----------------------------------------------------------------------------
PHOTO_SIZES = [(512, 512), (300, 451), (400, 600), (427, 640), (872, 1000)]  # scikit-image sample photos
CAMERA_SIZES = [(3024, 4032), (1080, 1920), (1536, 2048), (720, 1280), (4000, 3000), (224, 224), (1200, 90)]


def sample_set(seed, n=150):
    rng = np.random.default_rng(seed)
    sizes = PHOTO_SIZES + CAMERA_SIZES
    images = [[sizes[j] for j in rng.integers(0, len(sizes), rng.integers(0, 4))] for _ in range(n)]
    text = rng.integers(20, 900, n).tolist()
    return images, text


def brute_force(images, text, budget, percentile, factor, min_pixels, k_max):
    """The largest grid max_pixels within budget for `percentile`% of samples, scanning every k with
    transformers' own smart_resize (vision start + pads + vision end per image)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    distinct = sorted({s for sizes in images for s in sizes})
    where = {s: i for i, s in enumerate(distinct)}
    flat = np.array([where[s] for sizes in images for s in sizes])
    owner = np.array([i for i, sizes in enumerate(images) for _ in sizes])
    best = None
    for k in range(math.ceil(min_pixels / factor**2), k_max + 1):
        tokens = np.array([h * w // factor**2 + 2 for h, w in (smart_resize(h, w, factor, min_pixels, k * factor**2) for h, w in distinct)])
        totals = np.asarray(text) + np.bincount(owner, weights=tokens[flat], minlength=len(images))
        if np.count_nonzero(totals <= budget) >= percentile / 100 * len(images):
            best = k * factor**2
    return best


@pytest.mark.parametrize(
    "model,factor,min_pixels,budget,percentile",
    [
        ("qwen2-vl", 28, 3136, 4000, 90.0),
        ("qwen2-vl", 28, 3136, 2500, 75.0),
        ("qwen3-vl", 32, 65536, 3000, 95.0),
        ("qwen2-vl", 28, 3136, 600, 95.0),  # not reachable even at min_pixels: None
        ("qwen2-vl", 28, 3136, 10**6, 99.0),  # everything fits at the checkpoint's max_pixels
    ],
)
def test_suggest_matches_brute_force_with_transformers_smart_resize(model, factor, min_pixels, budget, percentile):
    images, text = sample_set(3)
    k_max = get_family(model).max_pixels // factor**2
    expected = brute_force(images, text, budget, percentile, factor, min_pixels, k_max)
    got = suggest_max_pixels([json.dumps(s) for s in images], text, model, budget, percentile)
    assert got == expected
    if budget == 900:
        assert got is None
    if budget == 10**6:
        assert got == get_family(model).max_pixels


def test_suggest_leaves_out_unmeasurable_and_keeps_other_tokens():
    images, text = [[(512, 512)], [(512, 512)], [(100, 30000)]], [100, -1, 10]  # ratio 300: refused
    # 512 x 512 at the checkpoint budget: 18 x 18 x 4 pads... (512 -> 504): 324 + 2 tokens
    assert suggest_max_pixels(images, text, "qwen2-vl", 426, 100.0) == get_family("qwen2-vl").max_pixels
    smaller = suggest_max_pixels(images, text, "qwen2-vl", 425, 100.0)
    assert smaller is not None and smaller < 504 * 504
    assert suggest_max_pixels(images, text, "qwen2-vl", 426, 100.0, other_tokens=[1, 0, 0]) == smaller
    with pytest.raises(InvalidOptionError, match="no max_pixels"):
        suggest_max_pixels(images, text, "llava-1.5", 426)
    with pytest.raises(InvalidOptionError, match="percentile"):
        suggest_max_pixels(images, text, "qwen2-vl", 426, 0)


def test_measurer_lengths_split_into_text_and_recomputed_images(photo_files, tmp_path):
    """Measurer's total = (total - visual) + the images' spans recomputed under any max_pixels, and the
    reference processor's len(input_ids) agrees at the suggested budget and one grid step above."""
    from conftest import build_reference_processor, reference_image_processor

    files = [p for p in photo_files if p.suffix == ".png" and p.stem != "camera"]
    rng = np.random.default_rng(1)
    samples = []
    for i in range(8):
        picks = [files[j] for j in rng.choice(len(files), 1 + i % 3, replace=False)]
        words = " ".join(["word"] * int(rng.integers(5, 200)))
        content = "<image>" * len(picks) + f"Describe {i}. {words}"
        samples.append(Sample([{"role": "user", "content": content}, {"role": "assistant", "content": "It is a photo."}], [str(p) for p in picks]))
    sizes = [[Image.open(p).size[::-1] for p in s.images] for s in samples]
    base = [Measurer("qwen2-vl").measure(s) for s in samples]
    text = [m.total - m.visual for m in base]
    for max_pixels in (200_704, 50_176, 3136 * 4):
        family = get_family("qwen2-vl", max_pixels=max_pixels)
        measured = [Measurer("qwen2-vl", max_pixels=max_pixels).measure(s).total for s in samples]
        recomputed = [t + int(sum(image_tokens(family, sz))) for t, sz in zip(text, sizes)]
        assert measured == recomputed

    budget, percentile = int(np.percentile([m.total for m in base], 50)) - 40, 60.0
    suggested = suggest_max_pixels(sizes, text, "qwen2-vl", budget, percentile)
    assert suggested is not None and suggested < get_family("qwen2-vl").max_pixels

    reference = build_reference_processor("qwen2-vl", _tokenizer_file(tmp_path))

    def share(max_pixels):
        reference.image_processor = reference_image_processor("qwen2-vl", min_pixels=3136, max_pixels=max_pixels)
        lengths = []
        for s in samples:
            content = [{"type": "image", "path": p} for p in s.images] + [{"type": "text", "text": s.messages[0]["content"].replace("<image>", "")}]
            messages = [{"role": "user", "content": content}, {"role": "assistant", "content": [{"type": "text", "text": "It is a photo."}]}]
            out = reference.apply_chat_template(messages, tokenize=True, return_dict=True, return_tensors="np")
            lengths.append(out["input_ids"].shape[1])
        return np.mean(np.asarray(lengths) <= budget)

    assert share(suggested) >= percentile / 100
    assert share(suggested + 28 * 28) < percentile / 100


def _tokenizer_file(tmp_path):
    from reference_tokenizers import build_qwen2_tokenizer_json

    path = tmp_path / "tokenizer.json"
    build_qwen2_tokenizer_json(path)
    return path


# --- histogram -------------------------------------------------------------------------------------
def column_height(pixels, x, bottom, color):
    h = 0
    while tuple(pixels[x, bottom - 1 - h]) == color:
        h += 1
    return h


def test_histogram_png_pixels(tmp_path):
    # planted counts: 10 in [0, 250), 20 in [1000, 1250), 40 in [2000, 2250) (bins of 250 over 0..10,000)
    values = [100] * 10 + [1100] * 20 + [2100] * 40
    other = [5000] * 7
    path = tmp_path / "h.png"
    layout = histogram_png({"a": values, "b": other + [-1]}, path, max_length=8192, bins=40, width=840, panel_height=200, title="t")
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (840, layout.height) and layout.height == 40 + 2 * 200 + 36 + 45
    assert layout.x_max == 10000 and layout.edges[1] == 250
    pixels = image.convert("RGB").load()
    a, b = layout.panels
    heights = {}
    for j, expected in ((0, 10), (4, 20), (8, 40)):
        left, right = layout.bar_span(j)
        assert a.counts[j] == expected
        heights[j] = column_height(pixels, (left + right) // 2, a.bottom, COLORS[0])
    assert heights == {0: 50, 4: 100, 8: 200}  # y axis tops at 40: 200 px per 40 samples
    assert b.counts[20] == 7 and sum(b.counts) == 7  # the -1 is not drawn
    left, right = layout.bar_span(20)
    assert column_height(pixels, (left + right) // 2, b.bottom, COLORS[1]) == round(7 / b.y_max * 200)
    # the max_length line sits where the axis mapping puts 8,192, in both panels, and nowhere near it
    x = layout.x0 + round(8192 / 10000 * (layout.x1 - layout.x0))
    assert layout.x_to_px(8192) == x
    for panel in (a, b):
        y = (panel.top + panel.bottom) // 2
        assert tuple(pixels[x, y]) == LINE
        assert tuple(pixels[x - 2, y]) != LINE and tuple(pixels[x + 2, y]) != LINE


def test_histogram_bad_input(tmp_path):
    with pytest.raises(InvalidOptionError):
        histogram_png({}, tmp_path / "x.png")
    with pytest.raises(InvalidOptionError):
        histogram_png({"a": [1]}, tmp_path / "x.png", bins=2000)


# --- the CLI ---------------------------------------------------------------------------------------
DATASET_SIZES = [(300, 400), (1080, 1920), (64, 900), (500, 500), (2000, 1500)]


def make_dataset(tmp_path, n=14, seed=0):
    """A swift-format dataset of real (Pillow-made) images, a bad line and a missing image; returns
    (path, {line: (reference messages, image sizes)}) for the measurable records."""
    import json as _json

    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(DATASET_SIZES):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(tmp_path / f"img{i}.jpg")
    planted, rows = {}, []
    for i in range(n):
        picks = [int(j) for j in rng.integers(0, len(DATASET_SIZES), i % 3)]
        text = " ".join(["describe"] * int(rng.integers(1, 400)))
        rows.append({"messages": [{"role": "user", "content": "<image>" * len(picks) + text}, {"role": "assistant", "content": "A picture."}],
                     "images": [f"img{j}.jpg" for j in picks]})  # fmt: skip
        content = [{"type": "image", "path": str(tmp_path / f"img{j}.jpg")} for j in picks] + [{"type": "text", "text": text}]
        planted[i + 1] = ([{"role": "user", "content": content}, {"role": "assistant", "content": [{"type": "text", "text": "A picture."}]}],
                          [DATASET_SIZES[j] for j in picks])  # fmt: skip
    lines = [_json.dumps(r) for r in rows] + ["{not json", _json.dumps({"messages": [{"role": "user", "content": "<image>x"}, {"role": "assistant", "content": "y"}], "images": ["gone.jpg"]})]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, planted


def reference_lengths(ref_processors, planted, model="qwen2-vl"):
    reference = ref_processors(model)
    return {
        line: reference.apply_chat_template(messages, tokenize=True, return_dict=True, return_tensors="np")["input_ids"].shape[1]
        for line, (messages, _) in planted.items()
    }


def test_cli_stats(tmp_path, ref_processors, capsys):
    from mmtok.cli.main import main

    path, planted = make_dataset(tmp_path)
    lengths = reference_lengths(ref_processors, planted)
    png = tmp_path / "hist.png"
    code = main(["data", "stats", str(path), "--model", "qwen2-vl", "--max-length", "1500", "--json", "--histogram", str(png),
                 "--suggest-max-pixels", "1200", "--percentile", "80"])  # fmt: skip
    assert code == 1  # two records have problems
    out = json.loads(capsys.readouterr().out)
    assert out["records"] == 16 and out["by_reason"] == {"bad_json": 1, "missing_media": 1}
    (stats,) = out["models"]
    totals = np.array(list(lengths.values()))
    assert stats["measured"] == 14 and stats["unmeasurable"] == 2
    assert stats["total_tokens"]["max"] == totals.max() and stats["total_tokens"]["mean"] == pytest.approx(totals.mean())
    assert stats["total_tokens"]["p90"] == pytest.approx(np.percentile(totals, 90))
    assert stats["over_max_length"] == int((totals > 1500).sum()) > 0
    # the suggestion from the reference's lengths: text = total - the images' spans under the checkpoint budget
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize

    def span(h, w, max_pixels=12845056):
        rh, rw = smart_resize(h, w, 28, 3136, max_pixels)
        return rh * rw // 784 + 2

    text = [lengths[line] - sum(span(h, w) for h, w in planted[line][1]) for line in planted]
    sizes = [planted[line][1] for line in planted]
    (suggestion,) = out["suggest_max_pixels"]
    assert suggestion["max_pixels"] == brute_force(sizes, text, 1200, 80.0, 28, 3136, 16384)
    assert Image.open(png).format == "PNG"
