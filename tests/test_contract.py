"""Contract over every registered model: plans from sizes alone are well formed on thousands of sizes
(extreme ones included), and for every model with a processor, the plan equals what the pixel path and
the assembled sequence produce. A new family is tested here the moment it is registered; its own test
file compares it with its reference."""

from __future__ import annotations

import numpy as np
import pytest

import mmtok
from mmtok.errors import ImageError
from mmtok.vision.families import get_family

MODELS = mmtok.model_names()


def contract_sizes() -> list[tuple[int, int]]:
    rng = np.random.default_rng(2026)
    sizes = [(1, 1), (1, 2), (2, 1), (1, 10000), (10000, 1), (3, 599), (599, 3), (14, 14), (28, 28), (224, 224),
             (336, 336), (448, 448), (384, 384), (1080, 1920), (1920, 1080), (4000, 3000), (20000, 20000), (7, 9000)]
    sizes += [(int(h), int(w)) for h, w in rng.integers(1, 4096, size=(1500, 2))]
    sizes += [(int(h), int(w)) for h, w in np.exp(rng.uniform(0, np.log(30000), size=(500, 2))).astype(int) + 1]
    return sizes


@pytest.mark.parametrize("model", MODELS)
def test_plans_from_sizes_are_well_formed(model):
    family = get_family(model)
    planned = 0
    for h, w in contract_sizes():
        try:
            plan = family.plan_size((h, w))
        except ImageError:
            continue  # a typed refusal (e.g. an aspect ratio the model cannot take) is allowed
        planned += 1
        assert plan.model == family.name and plan.size == (h, w), (h, w)
        assert isinstance(plan.tokens, int) and plan.tokens > 0, (h, w)
        assert isinstance(plan.total, int) and plan.total >= plan.tokens, (h, w)
        assert isinstance(plan.tiles, int) and plan.tiles >= 1, (h, w)
        assert plan == family.plan_size((h, w))  # pure: same size, same plan
    assert planned > 1500


def _processor(model, tmp_path_factory):
    family = get_family(model)
    if family.tokenizer_name is not None:
        return mmtok.get_processor(model), True
    from reference_tokenizers import build_tiny_tokenizer_json

    path = tmp_path_factory.mktemp(model) / "tokenizer.json"
    build_tiny_tokenizer_json(path, list(family.special_tokens), bos=family.bos_token)
    return mmtok.get_processor(model, tokenizer=str(path)), False


@pytest.mark.parametrize("model", [m for m in MODELS if not get_family(m).count_only])
def test_plan_equals_pixels_and_sequence(model, photo_files, tmp_path_factory):
    proc, own_tokenizer = _processor(model, tmp_path_factory)
    family = proc.family
    image_id = proc.tokenizer.special_tokens[family.modality_tokens["image"]]
    rng = np.random.default_rng(11)
    inputs = [str(p) for p in photo_files] + [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(1, 90), (33, 47), (300, 2)]]
    for image in inputs:
        try:
            plan = proc.plan(image)
        except ImageError:
            continue
        out = proc.encode_text(family.template_text("image"), [image])
        assert out.plans[0] == plan
        ids = out["input_ids"][0]
        # image positions, as marked before a family brings the ids to its reference's form (Phi-3.5
        # writes the N-th image's run as -N)
        assert int((out["mm_token_type_ids"][0] == 1).sum()) == plan.tokens
        if image_id in ids:
            assert int((ids == image_id).sum()) == plan.tokens
        if own_tokenizer:
            # what the template writes for an image, expanded, is the image's whole footprint
            assert ids.size - (1 if family.bos_token else 0) == plan.total


@pytest.mark.parametrize("model", [m for m in MODELS if get_family(m).count_only])
def test_count_only_models_refuse_a_processor(model):
    from mmtok.errors import CountOnlyError

    with pytest.raises(CountOnlyError):
        mmtok.get_processor(model)
