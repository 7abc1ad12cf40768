"""Discrete image ids inside a text tokenizer's sequence (mmtok.discrete.sequence).

References: tiktoken's own Encoding (the whole vocabulary of qwen2 / cl100k_base: the reserved ids must
collide with none), transformers' PreTrainedTokenizerFast loading the tokenizer.json the layout wrote
(same ids for the markers and codes, same text), transformers' Emu3Processor count of h * (w + 1)
ids for the rows, and the identity ids -> sequence -> ids. Images are real photo crops tokenized by a
tiny untrained conv tokenizer (the ids are real ids; their quality does not matter here).
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skimage import data as skdata

from mmtok.discrete.checkpoint import save_model
from mmtok.discrete.data import random_crops, to_tensor
from mmtok.discrete.models import build_model
from mmtok.discrete.sequence import ImageTokenLayout, decode_interleaved, encode_interleaved
from mmtok.errors import InvalidOptionError, SpecialTokenError, UnknownNameError
from mmtok.text import get_tokenizer
from mmtok.text.train import train as train_text

K = 64
SMALL = {"channels": 16, "res_channels": 8, "res_blocks": 1, "dim": 8, "quantizer": {"name": "vq", "codebook_size": K}}
TEXTS = ["A photo of an astronaut: ", " and a cup of coffee, ", " — ¿qué ves? 画像"]


@pytest.fixture(scope="module")
def conv():
    torch.manual_seed(0)
    return build_model({"arch": "vqvae", "size": 32, "factor": 4, **SMALL}).eval()


@pytest.fixture(scope="module")
def crops():
    return random_crops([skdata.astronaut(), skdata.coffee()], 3, 32, seed=5)


@pytest.fixture(scope="module")
def grids(conv, crops):
    with torch.no_grad():
        ids = conv.encode(to_tensor(crops)).numpy()
    rng = np.random.default_rng(0)
    return [ids[0], ids[1], rng.integers(0, K, (5, 7)), rng.integers(0, K, 12)]  # conv grids, a 5x7 grid, a 1-D sequence


@pytest.fixture(scope="module")
def small_json(tmp_path_factory):
    path = tmp_path_factory.mktemp("seq") / "tokenizer.json"
    docs = [inspect.getdoc(m) or "" for m in (json, inspect, np)]
    train_text(texts=docs * 3, vocab_size=500, special_tokens=["<|endoftext|>"], out=path)
    return path


@pytest.mark.parametrize("layout", ["chameleon", "emu3"])
def test_image_ids_round_trip_exactly(layout, grids):
    seq = ImageTokenLayout("qwen2", K, layout=layout)
    for grid in grids:
        span = seq.image_to_ids(grid)
        back = seq.ids_to_image(span)
        if layout == "chameleon":
            assert np.array_equal(back, np.asarray(grid).reshape(-1))  # the flat layout does not record the shape
        else:  # a 1-D sequence is one row
            assert np.array_equal(back, np.asarray(grid) if np.ndim(grid) == 2 else np.asarray(grid)[None])
        assert len(span) == seq.span_length(np.shape(grid))
    shaped = ImageTokenLayout("qwen2", K, layout=layout, token_shape=(8, 8))
    assert np.array_equal(shaped.ids_to_image(shaped.image_to_ids(grids[0])), grids[0])


@pytest.mark.parametrize("layout", ["chameleon", "emu3"])
def test_text_and_images_round_trip_through_one_sequence(layout, grids):
    seq = ImageTokenLayout("qwen2", K, layout=layout, token_shape=(8, 8))
    parts = [TEXTS[0], grids[0], TEXTS[1], grids[1], TEXTS[2]]
    ids = seq.encode(parts)
    enc = seq.base.encoding  # tiktoken's own Encoding of Qwen's ranks: the text ids are plain qwen2 ids
    out = seq.decode(ids)
    assert len(out) == len(parts)
    for got, want in zip(out, parts):
        if isinstance(want, str):
            assert got == want
        else:
            assert np.array_equal(got, want)
    split = seq.split(ids)
    assert [p for p in split if isinstance(p, list)] == [enc.encode(t) for t in TEXTS]


def test_emu3_rows_take_h_times_w_plus_one_ids_as_transformers_counts(grids):
    seq = ImageTokenLayout("qwen2", K, layout="emu3")
    grid = grids[2]  # 5 x 7
    span = seq.image_to_ids(grid)
    h, w = grid.shape
    prefix = seq.base.encoding.encode(f"{h}*{w}")
    m = seq.marker_ids
    assert span[: 2 + len(prefix)] == [m["start"], *prefix, m["token"]]
    rows = span[2 + len(prefix) : -2]
    assert len(rows) == h * (w + 1)  # transformers Emu3Processor.replace_image_token: image_seq_length = h * (w + 1)
    assert rows[w :: w + 1] == [m["eol"]] * h and span[-2:] == [m["eof"], m["end"]]


@pytest.mark.parametrize("name", ["qwen2", "cl100k_base"])
def test_reserved_range_collides_with_no_existing_id(name):
    base = get_tokenizer(name)
    enc = base.encoding  # tiktoken's Encoding: every regular and special id of the vocabulary
    existing = set(enc._mergeable_ranks.values()) | set(enc._special_tokens.values())
    seq = ImageTokenLayout(name, 1024, layout="emu3")
    reserved = set(seq.code_range) | set(seq.marker_ids.values())
    assert len(reserved) == 1024 + 5
    assert not reserved & existing
    assert min(reserved) == max(existing) + 1  # appended right after the largest id (cl100k: after its gap)
    assert seq.code_range == range(max(existing) + 1 + 5, max(existing) + 1 + 5 + 1024)


def test_transformers_reads_the_same_ids_from_the_saved_tokenizer_json(small_json, tmp_path, grids):
    from transformers import PreTrainedTokenizerFast

    out = tmp_path / "with_images.json"
    seq = ImageTokenLayout(small_json, K, layout="emu3", token_shape=(8, 8), out=out)
    hf = PreTrainedTokenizerFast(tokenizer_file=str(out))
    for name, spelling in seq.markers.items():
        assert hf.convert_tokens_to_ids(spelling) == seq.marker_ids[name]
    assert [hf.convert_tokens_to_ids(f"<|visual token {c:06d}|>") for c in range(K)] == list(seq.code_range)
    vocab = hf.get_vocab()
    base_ids = {i for t, i in vocab.items() if t not in seq.markers.values() and not t.startswith("<|visual token")}
    assert max(base_ids) < min(seq.marker_ids.values())  # nothing else sits in the reserved range
    text = "Describe the image in one sentence."
    ids = seq.encode([text, grids[0]])
    assert ids[: len(hf.encode(text))] == hf.encode(text)
    assert hf.decode(ids) == seq.tokenizer.decode(ids)
    again = ImageTokenLayout(out, K, layout="emu3", token_shape=(8, 8))  # the saved file as the base keeps every id
    assert again.marker_ids == seq.marker_ids and again.code_range == seq.code_range
    assert np.array_equal(again.ids_to_image(ids), grids[0])


def test_full_round_trip_through_a_tokenizer_checkpoint(conv, crops, tmp_path):
    ckpt = save_model(conv, str(tmp_path / "tok.safetensors"))
    seq = ImageTokenLayout("qwen2", K, token_shape=conv.token_shape)
    parts = [TEXTS[0], crops[0], TEXTS[1], crops[1]]
    ids = encode_interleaved(parts, seq, ckpt)
    out = decode_interleaved(ids, seq, ckpt)
    with torch.no_grad():
        direct = conv.decode(conv.encode(to_tensor(crops[:2])))
    direct = (direct.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
    assert out[0] == TEXTS[0] and out[2] == TEXTS[1]
    assert np.array_equal(out[1], direct[0]) and np.array_equal(out[3], direct[1])


def test_malformed_spans_raise_typed_errors(grids):
    seq = ImageTokenLayout("qwen2", K, token_shape=(8, 8))
    m, text = seq.marker_ids, seq.tokenizer.encode("hi")
    good = seq.image_to_ids(grids[0])
    cases = {
        "unclosed": text + good[:-1],
        "empty": [m["start"], m["end"]],
        "stray code": text + [seq.code_offset + 3],
        "stray end": text + [m["end"]],
        "text inside": good[:3] + text + good[3:],
        "wrong count": good[:5] + good[-1:],
    }
    for name, ids in cases.items():
        with pytest.raises(InvalidOptionError):
            seq.split(ids)
    with pytest.raises(InvalidOptionError):
        seq.ids_to_image(text)
    emu = ImageTokenLayout("qwen2", K, layout="emu3")
    span = emu.image_to_ids(grids[2])
    eol = emu.marker_ids["eol"]
    first_eol = span.index(eol)
    bad_rows = span[:first_eol] + span[first_eol + 1 :]  # rows 1 and 2 merged
    prefix_len = span.index(emu.marker_ids["token"])
    bad_size = [span[0], *emu.base.encode_ordinary("5x7"), *span[prefix_len:]]
    no_eof = span[:-2] + span[-1:]
    for ids in (bad_rows, bad_size, no_eof):
        with pytest.raises(InvalidOptionError):
            emu.split(ids)


def test_bad_inputs_raise_typed_errors(grids):
    seq = ImageTokenLayout("qwen2", K)
    with pytest.raises(InvalidOptionError):
        seq.image_to_ids(np.array([[0, K]]))  # outside the codebook
    with pytest.raises(InvalidOptionError):
        seq.image_to_ids([[0.5, 1.0]])
    with pytest.raises(InvalidOptionError):
        seq.image_to_ids(np.zeros((2, 2, 2, 2), dtype=int))
    with pytest.raises(SpecialTokenError):
        seq.encode(["text that spells <|image start|> itself"])
    with pytest.raises(UnknownNameError):
        ImageTokenLayout("qwen2", K, layout="mosaic")
    with pytest.raises(InvalidOptionError):
        ImageTokenLayout("qwen2", 0)


def test_region_tokens_and_images_share_one_sequence(grids):
    from mmtok.discrete.regions import RegionVocabulary

    regions = RegionVocabulary("qwen2", 10)
    seq = ImageTokenLayout(regions.tokenizer, K, token_shape=(8, 8))  # image ids appended after the region tokens
    assert seq.base_max_id == max(regions.ids.values()) and seq.marker_ids["start"] == seq.base_max_id + 1
    text = "The cat <r1> sits left of <r0>: "
    ids = seq.encode([text, grids[0]], allowed_special="all")
    assert [regions.ids["<r1>"], regions.ids["<r0>"]] == [i for i in ids if i in regions.ids.values()]
    out = seq.decode(ids)
    assert out[0] == text and np.array_equal(out[1], grids[0])
    with pytest.raises(SpecialTokenError):
        seq.encode(["<|visual token 000001|>"], allowed_special="all")  # codes come only from images
