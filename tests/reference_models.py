"""Tiny randomly-initialised reference models (no weights downloaded): their get_rope_index reads only
the config, so a one-layer model gives the real position ids."""

from __future__ import annotations

MERGE = 2


def tiny_text(**extra):
    text = dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=1, vocab_size=152064)
    return {**text, **extra}


def tiny_qwen_models() -> dict:
    """model name -> a tiny transformers model of that family (Qwen2.5-VL with the checkpoints'
    tokens_per_second = 2)."""
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLModel, Qwen2VLConfig, Qwen2VLModel, Qwen3VLConfig,
                              Qwen3VLModel)

    mrope = {"type": "mrope", "mrope_section": [2, 1, 1]}
    return {
        "qwen2-vl": Qwen2VLModel(Qwen2VLConfig(
            text_config=tiny_text(rope_scaling=mrope),
            vision_config=dict(depth=1, embed_dim=16, hidden_size=16, num_heads=2, mlp_ratio=1,
                               spatial_merge_size=MERGE))),
        "qwen2.5-vl": Qwen2_5_VLModel(Qwen2_5_VLConfig(
            text_config=tiny_text(rope_scaling=mrope),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16,
                               fullatt_block_indexes=[0], spatial_merge_size=MERGE, tokens_per_second=2))),
        "qwen3-vl": Qwen3VLModel(Qwen3VLConfig(
            text_config=tiny_text(head_dim=8, rope_scaling={"rope_type": "default", "mrope_section": [2, 1, 1],
                                                             "mrope_interleaved": True}),
            vision_config=dict(depth=1, hidden_size=16, intermediate_size=16, num_heads=2, out_hidden_size=16,
                               deepstack_visual_indexes=[0], num_position_embeddings=16,
                               spatial_merge_size=MERGE))),
    }


def reference_positions(model, out: dict):
    """get_rope_index of `model` on a processor output dict of numpy arrays."""
    import torch

    kwargs = {
        "input_ids": torch.as_tensor(out["input_ids"]),
        "mm_token_type_ids": torch.as_tensor(out["mm_token_type_ids"]).int(),
        "attention_mask": torch.as_tensor(out["attention_mask"]),
        "image_grid_thw": torch.as_tensor(out["image_grid_thw"]) if "image_grid_thw" in out else None,
        "video_grid_thw": torch.as_tensor(out["video_grid_thw"]) if "video_grid_thw" in out else None,
    }
    if "second_per_grid_ts" in out:
        kwargs["second_per_grid_ts"] = torch.as_tensor(out["second_per_grid_ts"], dtype=torch.float32)
    with torch.no_grad():
        pos, deltas = model.get_rope_index(**kwargs)
    return pos.numpy(), deltas.numpy()
