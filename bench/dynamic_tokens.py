"""Dynamic token selection (LaVIT-style, mmtok.discrete.dynamic): tokens saved vs reconstruction quality.

    python bench/dynamic_tokens.py [--minutes 1] [--threads 2] [--count 100] [--ckpt tok.safetensors | --out tok.safetensors] [--json]

Trains the conv tokenizer (f = 4: 64 tokens per 32 x 32 crop; EMA + k-means + dead-code restarts VQ,
256 codes) with mmtok.discrete.train for --minutes on the builtin photos (or loads --ckpt), then, on
--count held-out crops (scikit-learn's china.jpg and flower.jpg, never trained on), keeps the top
ceil(ratio x 64) tokens by each proxy, fills the dropped ones with the usage-weighted mean code vector
and reports PSNR / SSIM of the 8-bit reconstructions. Proxies: random (the baseline), variance,
gradient, code_distance (distance of the code vector from the fill), drop_error (the oracle: one decode per token), learned (a TokenScorer trained for --scorer-steps
on 128 training crops to predict log drop_error). Then `train_fill` learns the mask vector and
fine-tunes a copy of the decoder with random drops (--tune-steps, 2,000 training crops; encoder and
codebook frozen, so the ids are the same) and the random and code_distance rows are repeated with it
("+tuned"). Nothing here is asserted: it prints numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

RATIOS = (1.0, 0.75, 0.5, 0.375, 0.25, 0.125)
PROXIES = ("random", "variance", "gradient", "code_distance", "drop_error", "learned")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--count", type=int, default=100, help="held-out crops")
    ap.add_argument("--ckpt", help="use this checkpoint instead of training one")
    ap.add_argument("--out", help="keep the trained checkpoint here (default: a temporary file)")
    ap.add_argument("--scorer-steps", type=int, default=300)
    ap.add_argument("--tune-steps", type=int, default=300, help="train_fill steps (learned mask vector + decoder fine-tuned with drops)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from mmtok.discrete.checkpoint import load_model
    from mmtok.discrete.data import load_crops
    from mmtok.discrete.dynamic import keep_ratio_curve, mask_vector, train_fill, train_scorer
    from mmtok.discrete.train import TrainConfig, train

    torch.set_num_threads(args.threads)
    info = {"load_before": os.getloadavg()[0]}
    if args.ckpt:
        path = args.ckpt
    else:
        path = args.out or os.path.join(tempfile.mkdtemp(), "conv.safetensors")
        cfg = TrainConfig(minutes=args.minutes, quantizer_options={"codebook_size": 256, "ema": True, "kmeans_init": True, "dead_code_threshold": 2.0})
        t = time.monotonic()
        result = train(cfg, path, threads=args.threads)
        info.update(train_steps=result.step, train_seconds=round(time.monotonic() - t, 1))
    model = load_model(path)
    data = load_crops("photos", model.size, 2000, args.count, seed=0)
    with torch.no_grad():
        from mmtok.discrete.data import to_tensor

        fill = mask_vector(model, model.encode(to_tensor(data.train)))  # from training crops, not the test set
    t = time.monotonic()
    scorer = train_scorer(model, data.train[:128], steps=args.scorer_steps, fill=fill)
    info.update(scorer_seconds=round(time.monotonic() - t, 1), scorer_loss=round(scorer.final_loss, 4))
    rows = []
    for proxy in PROXIES:
        t = time.monotonic()
        curve = keep_ratio_curve(model, data.test, RATIOS, proxy, fill=fill, scorer=scorer) if proxy == "learned" else keep_ratio_curve(model, data.test, RATIOS, proxy, fill=fill)
        seconds = time.monotonic() - t
        for row in curve:
            row["seconds"] = round(seconds, 2)
        rows += curve
    t = time.monotonic()
    tuned, tuned_fill = train_fill(model, data.train, steps=args.tune_steps)
    info.update(tune_seconds=round(time.monotonic() - t, 1), tune_loss=round(tuned.final_loss, 4))
    for proxy in ("random", "code_distance"):
        t = time.monotonic()
        curve = keep_ratio_curve(tuned, data.test, RATIOS, proxy, fill=tuned_fill)
        for row in curve:
            row.update(proxy=proxy + "+tuned", seconds=round(time.monotonic() - t, 2))
        rows += curve
    info["load_after"] = os.getloadavg()[0]
    if args.json:
        print(json.dumps({"info": info, "rows": rows}, indent=2))
        return 0
    print(f"# {info}", file=sys.stderr)
    print(f"{'proxy':<19} {'keep':>6} {'kept':>5} {'saved':>6} {'PSNR dB':>8} {'SSIM':>6}")
    for r in rows:
        print(f"{r['proxy']:<19} {r['keep_ratio']:>6.3f} {r['kept']:>5} {r['saved_fraction']:>6.1%} {r['psnr']:>8.2f} {r['ssim']:>6.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
