"""Quantizer speed on CPU: mmtok's quantizers vs vector-quantize-pytorch's, same input, same settings.

    python bench/quantizers.py [--vectors N] [--repeat N] [--threads N] [--json]

One training step each (forward + backward of ``z_q.sum() + loss``) on N random vectors (default
64 x 8 x 8 = 4096, the latents of a batch of 64 32x32 crops at f = 4), and one eval-mode
``encode``. Pairs, with the reference settings matched to mmtok's:

* VQ plain (K 256, D 32, beta 0.25)      vs VectorQuantize(ema_update=False, learnable_codebook=True, rotation_trick=False)
* VQ EMA + dead codes (K 256, D 32)      vs VectorQuantize(decay=0.99, threshold_ema_dead_code=2, rotation_trick=False)
* VQ l2, factorised (K 1024, 32 -> 8)    vs VectorQuantize(codebook_dim=8, use_cosine_sim=True, rotation_trick=False)
* FSQ [8, 5, 5, 5]                       vs FSQ(levels=[8, 5, 5, 5])
* LFQ 2^10 (entropy 0.1, commit 0.25)    vs LFQ(codebook_size=1024, ...)
* residual VQ 4 x 256 (D 32)             vs ResidualVQ(num_quantizers=4, rotation_trick=False)

Prints milliseconds per call (median of --repeat) and the ratio reference / mmtok. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _time(fn, repeat: int) -> float:
    fn()  # warm-up (and k-means init / first EMA step)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _pairs():
    import vector_quantize_pytorch as vqp

    from mmtok.discrete.quantizers import get_quantizer

    return [
        ("vq", 32, get_quantizer("vq", codebook_size=256, dim=32),
         vqp.VectorQuantize(dim=32, codebook_size=256, commitment_weight=0.25, ema_update=False, learnable_codebook=True, rotation_trick=False)),
        ("vq-ema-dead", 32, get_quantizer("vq", codebook_size=256, dim=32, ema=True, dead_code_threshold=2),
         vqp.VectorQuantize(dim=32, codebook_size=256, decay=0.99, commitment_weight=0.25, threshold_ema_dead_code=2, rotation_trick=False)),
        ("vq-l2-factorised", 32, get_quantizer("vq", codebook_size=1024, dim=32, codebook_dim=8, l2_norm=True, ema=True),
         vqp.VectorQuantize(dim=32, codebook_size=1024, codebook_dim=8, use_cosine_sim=True, decay=0.99, commitment_weight=0.25, rotation_trick=False)),
        ("fsq", 4, get_quantizer("fsq", levels=[8, 5, 5, 5]), vqp.FSQ(levels=[8, 5, 5, 5])),
        ("lfq", 10, get_quantizer("lfq", codebook_size=1024, entropy_weight=0.1, commitment_weight=0.25),
         vqp.LFQ(dim=10, codebook_size=1024, entropy_loss_weight=0.1, commitment_loss_weight=0.25)),
        ("residual-vq", 32, get_quantizer("rvq", codebook_size=256, dim=32, stages=4),
         vqp.ResidualVQ(dim=32, num_quantizers=4, codebook_size=256, rotation_trick=False)),
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vectors", type=int, default=4096)
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for name, dim, ours, ref in _pairs():
        z = torch.randn(1, args.vectors, dim)

        def step_ours():
            z_ = z.clone().requires_grad_(True)
            out = ours.train()(z_)
            (out.z_q.sum() + out.loss).backward()

        def step_ref():
            z_ = z.clone().requires_grad_(True)
            out = ref.train()(z_)
            loss = out[2] if len(out) > 2 else 0.0
            (out[0].sum() + (loss.sum() if torch.is_tensor(loss) else loss)).backward()

        def enc_ours():
            with torch.no_grad():
                ours.eval().encode(z)

        def enc_ref():
            with torch.no_grad():
                ref.eval()(z)

        train_o, train_r = _time(step_ours, args.repeat), _time(step_ref, args.repeat)
        enc_o, enc_r = _time(enc_ours, args.repeat), _time(enc_ref, args.repeat)
        rows.append({"quantizer": name, "train_ms": train_o, "ref_train_ms": train_r, "encode_ms": enc_o, "ref_encode_ms": enc_r})

    if args.json:
        print(json.dumps({"vectors": args.vectors, "threads": args.threads, "torch": torch.__version__, "rows": rows}, indent=2))
        return 0
    print(f"{args.vectors} vectors, {args.threads} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}")
    print(f"{'quantizer':18} {'train ms':>9} {'vqp ms':>9} {'vqp/mmtok':>9}   {'encode ms':>9} {'vqp ms':>9} {'vqp/mmtok':>9}")
    for r in rows:
        print(
            f"{r['quantizer']:18} {r['train_ms']:9.2f} {r['ref_train_ms']:9.2f} {r['ref_train_ms'] / r['train_ms']:9.2f}   "
            f"{r['encode_ms']:9.2f} {r['ref_encode_ms']:9.2f} {r['ref_encode_ms'] / r['encode_ms']:9.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
