"""Contract over every registered family: the plan from sizes alone equals what the pixel path and
the assembled sequence produce."""

from __future__ import annotations

import numpy as np
import pytest

import mmtok


@pytest.mark.parametrize("model", mmtok.model_names())
def test_plan_equals_pixels_and_sequence(model, photo_files, photos):
    proc = mmtok.get_processor(model)
    rng = np.random.default_rng(11)
    inputs = [str(p) for p in photo_files] + [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(1, 90), (33, 47), (300, 2)]]
    for image in inputs:
        plan = proc.plan(image)
        out = proc([{"role": "user", "content": [{"type": "image", "image": image}]}])
        assert out.plans[0] == plan
        assert tuple(out["image_grid_thw"][0].tolist()) == plan.grid_thw
        assert out["pixel_values"].shape[0] == plan.patches
        assert int((out["mm_token_type_ids"] == 1).sum()) == plan.tokens
