"""k-means (Lloyd's algorithm) for initialising VQ codebooks from the first training batch.

Lloyd (1982), "Least squares quantization in PCM". Codebook initialisation by k-means on encoder
outputs follows the SoundStream paper (Zeghidour et al. 2021, Sec. 3.3) and vector-quantize-pytorch's
``kmeans_init``: start from K distinct random batch vectors, then alternate assignment (nearest mean)
and update (mean of the assigned vectors); a mean with no vectors keeps its value. ``spherical=True``
assigns by cosine similarity and re-normalises the means (spherical k-means, Dhillon & Modha 2001),
for l2-normalised codebooks.
"""

from __future__ import annotations

from .. import require_torch

torch = require_torch()

__all__ = ["kmeans", "nearest"]


def nearest(x, codes, *, cosine: bool = False):
    """Index of the nearest row of ``codes`` (K, d) for each row of ``x`` (N, d): smallest squared
    euclidean distance ``|x|^2 - 2 x.e + |e|^2``, or largest dot product (``cosine``: rows already unit norm)."""
    if cosine:
        return (x @ codes.t()).argmax(dim=1)
    d = (x * x).sum(1, keepdim=True) - 2 * (x @ codes.t()) + (codes * codes).sum(1)[None, :]
    return d.argmin(dim=1)


@torch.no_grad()
def kmeans(x, k: int, *, iters: int = 10, spherical: bool = False, init=None, generator=None):
    """Means (k, d) and cluster sizes (k,) after ``iters`` Lloyd steps on ``x`` (N, d).

    ``init`` (k, d) gives the starting means; otherwise k rows of ``x`` drawn without replacement (with
    replacement when N < k)."""
    n = x.shape[0]
    if init is not None:
        means = init.to(x).clone()
    elif n >= k:
        means = x[torch.randperm(n, generator=generator, device=x.device)[:k]].clone()
    else:
        means = x[torch.randint(0, n, (k,), generator=generator, device=x.device)].clone()
    sizes = torch.zeros(k, dtype=x.dtype, device=x.device)
    for _ in range(iters):
        assign = nearest(x, means, cosine=spherical)
        sizes = torch.bincount(assign, minlength=k).to(x.dtype)
        sums = torch.zeros_like(means).index_add_(0, assign, x)
        new = sums / sizes.clamp(min=1)[:, None]
        if spherical:
            new = torch.nn.functional.normalize(new, dim=1)
        means = torch.where((sizes == 0)[:, None], means, new)
    return means, sizes
