"""VQ quantizer (mmtok.discrete.quantizers.vq): nearest-code assignment, straight-through gradients,
the VQ-VAE loss (van den Oord et al. 2017, eq. 3), the EMA codebook update (appendix A.1 with Sonnet's
Laplace smoothing), k-means init, dead-code restarts, l2 and factorised codes. References:
brute-force torch.cdist / cosine similarity, formulas computed by hand here, scikit-learn's KMeans,
and vector-quantize-pytorch's VectorQuantize with the same codebook copied in."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from mmtok.discrete.quantizers import QUANTIZERS, get_quantizer  # noqa: E402
from mmtok.errors import InvalidOptionError, UnknownNameError  # noqa: E402


def _vq(**opts):
    opts = {"codebook_size": 16, "dim": 6, **opts}
    return get_quantizer("vq", **opts)


def test_import_mmtok_does_not_import_torch():
    code = "import sys, mmtok, mmtok.discrete, mmtok.discrete.quantizers; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_missing_torch_raises_missing_dependency_error():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from mmtok.errors import MissingDependencyError\n"
        "try:\n    import mmtok.discrete.quantizers.vq\nexcept MissingDependencyError as e:\n    print('ok', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.startswith("ok") and "mmtok[discrete]" in out and "torch" in out


def test_registry_names_and_errors():
    assert QUANTIZERS.names() == ["fsq", "lfq", "residual-vq", "vq"]
    assert type(get_quantizer("rvq", codebook_size=4, dim=2)).__name__ == "ResidualVQ"
    with pytest.raises(UnknownNameError):
        get_quantizer("pq")
    with pytest.raises(InvalidOptionError, match="no option 'temperature'"):
        get_quantizer("vq", codebook_size=4, dim=2, temperature=1.0)
    with pytest.raises(InvalidOptionError, match="codebook_size"):
        get_quantizer("vq", dim=2)
    with pytest.raises(InvalidOptionError, match="decay"):
        get_quantizer("vq", codebook_size=4, dim=2, decay=1.5)


def test_bad_input_shape_and_indices():
    vq = _vq()
    with pytest.raises(InvalidOptionError, match="dim=6"):
        vq(torch.randn(3, 5))
    with pytest.raises(InvalidOptionError, match="outside"):
        vq.decode(torch.tensor([0, 16]))
    with pytest.raises(InvalidOptionError, match="integer"):
        vq.decode(torch.tensor([0.0]))


@pytest.mark.parametrize("opts", [{}, {"l2_norm": True}, {"codebook_dim": 3}])
def test_nearest_code_is_bruteforce_argmin(opts):
    torch.manual_seed(0)
    vq = _vq(codebook_size=40, **opts).double().eval()
    with torch.no_grad():
        vq.embed.normal_()
    z = torch.randn(4, 25, 6, dtype=torch.float64)
    x = vq.project_in(z).reshape(-1, vq.codebook_dim).detach()
    codes = vq.embed.detach()
    if opts.get("l2_norm"):
        expected = F.cosine_similarity(x[:, None, :], codes[None, :, :], dim=-1).argmax(1)
    else:
        expected = torch.cdist(x, codes).argmin(1)
    out = vq(z)
    assert torch.equal(out.indices.reshape(-1), expected)
    assert torch.equal(vq.encode(z).reshape(-1), expected)
    assert out.z_q.shape == z.shape and out.indices.shape == z.shape[:-1]


@pytest.mark.parametrize("opts", [{}, {"ema": True}, {"dead_code_threshold": 1.0}])
def test_straight_through_gradient_is_identity(opts):
    torch.manual_seed(1)
    vq = _vq(**opts)
    z = torch.randn(5, 6)
    jac = torch.autograd.functional.jacobian(lambda t: vq(t).z_q, z)
    assert torch.equal(jac.reshape(30, 30), torch.eye(30))


def test_loss_is_codebook_plus_beta_commitment_by_hand():
    torch.manual_seed(2)
    beta = 0.3
    vq = _vq(beta=beta)
    with torch.no_grad():
        vq.embed.normal_()
    z = torch.randn(7, 6, requires_grad=True)
    out = vq(z)
    E = vq.embed.detach()
    idx = torch.cdist(z.detach(), E).argmin(1)
    q = E[idx]
    n = z.numel()
    sq = ((q - z.detach()) ** 2).sum() / n  # mean squared error, Sonnet's reduce_mean
    assert torch.allclose(out.loss, (1 + beta) * sq)  # ||sg[z]-e||^2 and beta ||z - sg[e]||^2 have the same value
    out.loss.backward()
    # gradients: the commitment term moves z only, the codebook term moves the chosen codes only
    assert torch.allclose(z.grad, beta * 2 * (z.detach() - q) / n)
    expected = torch.zeros_like(E).index_add_(0, idx, 2 * (q - z.detach()) / n)
    assert torch.allclose(vq.embed.grad, expected)


def test_ema_update_by_hand():
    # K = 2 codes in 1-D, decay 0.5; N starts at ones and m at the codebook.
    vq = get_quantizer("vq", codebook_size=2, dim=1, ema=True, decay=0.5, eps=1e-5, beta=0.25)
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[0.0], [1.0]]))
        vq.embed_avg.copy_(vq.embed)
    z = torch.tensor([[0.1], [0.2], [0.9]])
    out = vq.train()(z)
    assert out.indices.tolist() == [0, 0, 1]
    N = [0.5 * 1 + 0.5 * 2, 0.5 * 1 + 0.5 * 1]  # n = [2, 1]
    m = [0.5 * 0.0 + 0.5 * (0.1 + 0.2), 0.5 * 1.0 + 0.5 * 0.9]
    total, eps, K = sum(N), 1e-5, 2
    smoothed = [(N[k] + eps) / (total + K * eps) * total for k in range(2)]
    expected = [m[k] / smoothed[k] for k in range(2)]
    assert vq.cluster_size.tolist() == pytest.approx(N)
    assert vq.embed.reshape(-1).tolist() == pytest.approx(expected, rel=1e-6)
    # the EMA loss is beta * commitment only, with the codes used in the lookup (before the update)
    assert float(out.loss) == pytest.approx(0.25 * ((0.1**2 + 0.2**2 + 0.1**2) / 3), rel=1e-6)
    # eval mode leaves the codebook alone
    before = vq.embed.clone()
    vq.eval()(torch.randn(10, 1))
    assert torch.equal(vq.embed, before)


def test_ema_matches_vector_quantize_pytorch():
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(3)
    K, D, decay = 12, 5, 0.9
    E = torch.randn(K, D)
    ref = vqp.VectorQuantize(dim=D, codebook_size=K, decay=decay, commitment_weight=0.25, rotation_trick=False)
    with torch.no_grad():
        ref.codebook = E
        ref._codebook.embed_avg.copy_(E[None])
    ours = get_quantizer("vq", codebook_size=K, dim=D, ema=True, decay=decay, beta=0.25)
    with torch.no_grad():
        ours.embed.copy_(E)
        ours.embed_avg.copy_(E)
    ref.train(), ours.train()
    for step in range(4):
        z = torch.randn(2, 30, D)
        q_ref, idx_ref, loss_ref = ref(z)
        out = ours(z)
        assert torch.equal(out.indices, idx_ref), step
        assert torch.allclose(out.z_q, q_ref, atol=1e-6)
        assert torch.allclose(out.loss, loss_ref, atol=1e-6)
        assert torch.allclose(ours.embed, ref.codebook, atol=1e-5), step
        assert torch.allclose(ours.cluster_size, ref._codebook.cluster_size[0], atol=1e-6)


@pytest.mark.parametrize("l2", [False, True])
def test_indices_match_vector_quantize_pytorch(l2):
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(4)
    K, D = 64, 8
    E = torch.randn(K, D)
    if l2:
        E = F.normalize(E, dim=1)
    ref = vqp.VectorQuantize(dim=D, codebook_size=K, rotation_trick=False, use_cosine_sim=l2).eval()
    with torch.no_grad():
        ref.codebook = E
    ours = get_quantizer("vq", codebook_size=K, dim=D, l2_norm=l2).eval()
    with torch.no_grad():
        ours.embed.copy_(E)
    z = torch.randn(3, 50, D)
    q_ref, idx_ref, _ = ref(z)
    out = ours(z)
    assert torch.equal(out.indices, idx_ref)
    assert torch.allclose(out.z_q, q_ref, atol=1e-6)
    assert torch.allclose(ours.decode(idx_ref), ref.get_output_from_indices(idx_ref), atol=1e-6)


def test_l2_codes_are_unit_norm_and_loss_on_normalised_vectors():
    torch.manual_seed(5)
    vq = _vq(l2_norm=True, beta=0.25)
    with torch.no_grad():
        vq.embed.mul_(100).add_(torch.randn_like(vq.embed))
    z = torch.randn(9, 6) * 7
    out = vq(z)
    assert torch.allclose(vq.codebook.norm(dim=1), torch.ones(16))
    assert torch.allclose(out.z_q.norm(dim=-1), torch.ones(9))
    zn = F.normalize(z, dim=1)
    q = vq.codebook.detach()[out.indices]
    assert torch.allclose(out.loss, 1.25 * F.mse_loss(zn, q))


def test_factorised_codes_project_in_and_out():
    torch.manual_seed(6)
    vq = get_quantizer("vq", codebook_size=32, dim=24, codebook_dim=4).eval()
    z = torch.randn(2, 3, 24)
    out = vq(z)
    x = vq.project_in(z).reshape(-1, 4)
    assert torch.equal(out.indices.reshape(-1), torch.cdist(x, vq.embed).argmin(1))
    expected = vq.project_out(vq.embed[out.indices])
    assert torch.allclose(out.z_q, expected)
    assert torch.equal(vq.decode(out.indices), out.z_q)
    assert vq.codebook.shape == (32, 4) and out.z_q.shape == (2, 3, 24)


def test_kmeans_matches_sklearn_lloyd():
    sklearn_cluster = pytest.importorskip("sklearn.cluster")
    from sklearn.datasets import make_blobs

    from mmtok.discrete.quantizers.kmeans import kmeans

    X, _ = make_blobs(n_samples=300, centers=6, n_features=3, random_state=0, cluster_std=1.5)
    init = X[[0, 50, 100, 150, 200, 250]]
    for iters in (1, 3, 20):
        ref = sklearn_cluster.KMeans(n_clusters=6, init=init, n_init=1, max_iter=iters, tol=0, algorithm="lloyd").fit(X)
        means, sizes = kmeans(torch.tensor(X), 6, iters=iters, init=torch.tensor(init))
        assert torch.allclose(means, torch.tensor(ref.cluster_centers_), atol=1e-10), iters
    assert sizes.tolist() == torch.bincount(torch.tensor(ref.labels_), minlength=6).double().tolist()


@pytest.mark.parametrize("opts", [{}, {"ema": True}, {"l2_norm": True}])
def test_kmeans_init_codes_are_means_of_their_vectors(opts):
    torch.manual_seed(7)
    centers = torch.randn(8, 6) * 10
    x = (centers[torch.randint(0, 8, (400,))] + 0.1 * torch.randn(400, 6)).double()
    vq = _vq(codebook_size=8, kmeans_init=True, kmeans_iters=25, **opts).double()
    out = vq.train()(x)
    xs = F.normalize(x, dim=1) if opts.get("l2_norm") else x
    codes = vq.codebook.detach()
    for k in range(8):  # Lloyd's fixed point: every used code is the (normalised) mean of its vectors
        members = xs[out.indices == k]
        if len(members):
            mean = members.mean(0)
            assert torch.allclose(codes[k], F.normalize(mean, dim=0) if opts.get("l2_norm") else mean, atol=1e-9)
    assert out.stats["used"] >= 7
    vq2 = _vq(codebook_size=8, kmeans_init=True).eval()  # eval mode never initialises
    vq2(x.float())
    assert not bool(vq2.initted)


@pytest.mark.parametrize("ema", [False, True])
def test_dead_codes_are_restarted_from_batch_vectors(ema):
    torch.manual_seed(8)
    vq = get_quantizer("vq", codebook_size=6, dim=2, ema=ema, decay=0.5, dead_code_threshold=0.4)
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[0.0, 0.0]] + [[100.0 + i, 100.0] for i in range(5)]))
        if ema:
            vq.embed_avg.copy_(vq.embed)
    z = torch.randn(40, 2)
    vq.train()(z)  # counts of unused codes: 1 -> 0.5, not yet below 0.4
    assert torch.all(vq.embed[1:, 0] > 99)  # not restarted (EMA smoothing moves them a little)
    out = vq(z)  # 0.5 -> 0.25 < 0.4: codes 1..5 restart from vectors of this batch
    assert out.indices.unique().tolist() == [0]
    rows = {tuple(r) for r in z.tolist()}
    restarted = vq.embed[1:].tolist()
    assert all(tuple(r) in rows for r in restarted)
    assert len({tuple(r) for r in restarted}) == 5  # distinct batch vectors
    assert vq.cluster_size[1:].tolist() == pytest.approx([0.4] * 5)
    if ema:
        assert torch.allclose(vq.embed_avg[1:], vq.embed[1:] * 0.4)
    used_after = vq.eval().encode(z).unique().numel()
    assert used_after > 1


def test_usage_counts_perplexity_and_reset():
    vq = get_quantizer("vq", codebook_size=4, dim=1).eval()
    with torch.no_grad():
        vq.embed.copy_(torch.tensor([[0.0], [1.0], [2.0], [3.0]]))
    out = vq(torch.tensor([[0.1], [0.0], [0.9], [2.2]]))  # codes 0, 0, 1, 2
    assert out.indices.tolist() == [0, 0, 1, 2]
    p = [0.5, 0.25, 0.25]
    assert out.stats["perplexity"] == pytest.approx(math.exp(-sum(v * math.log(v) for v in p)))
    assert out.stats["used"] == 3
    vq.encode(torch.tensor([[3.1]]))
    u = vq.usage()
    assert (u["used"], u["dead"], u["count"], u["codebook_size"]) == (4, 0, 5, 4)
    assert u["perplexity"] == pytest.approx(math.exp(-sum(c / 5 * math.log(c / 5) for c in (2, 1, 1, 1))))
    vq.reset_usage()
    assert vq.usage()["used"] == 0 and vq.usage()["dead"] == 4 and vq.usage()["perplexity"] == 0.0


def test_float64_input_runs_in_the_codebook_dtype():
    torch.manual_seed(10)
    for name, opts in (("vq", {"codebook_size": 16, "dim": 6, "codebook_dim": 3}), ("fsq", {"levels": [5, 5], "dim": 6}),
                       ("lfq", {"bits": 3, "dim": 6}), ("rvq", {"codebook_size": 8, "dim": 6, "stages": 2})):
        quantizer = get_quantizer(name, **opts).eval()
        z = torch.randn(4, 6, dtype=torch.float64)
        out = quantizer(z)
        assert out.z_q.dtype == torch.float64
        assert torch.equal(out.indices, quantizer(z.float()).indices)


def test_decode_equals_forward_in_eval_mode():
    torch.manual_seed(9)
    for opts in ({}, {"l2_norm": True, "codebook_dim": 3}, {"ema": True}):
        vq = _vq(**opts).eval()
        z = torch.randn(2, 4, 5, 6)
        out = vq(z)
        assert torch.equal(vq.decode(out.indices), out.z_q)
        assert torch.equal(vq.encode(z), out.indices)


@pytest.mark.parametrize("restarts", [True, False])
def test_ema_with_restarts_finds_every_cluster(restarts):
    # 4 well-separated blobs; the codebook starts collapsed next to one of them. EMA alone keeps the
    # unused codes where they are; dead-code restarts move them onto the data, then EMA centres them.
    torch.manual_seed(11)
    centers = torch.tensor([[5.0, 5.0], [-5.0, 5.0], [5.0, -5.0], [-5.0, -5.0]])
    vq = get_quantizer("vq", codebook_size=8, dim=2, ema=True, decay=0.8, dead_code_threshold=1.0 if restarts else 0.0)
    with torch.no_grad():
        vq.embed.copy_(centers[0] + 0.01 * torch.randn(8, 2))
        vq.embed_avg.copy_(vq.embed)
    vq.train()
    for _ in range(40):
        vq(centers[torch.randint(0, 4, (256,))] + 0.3 * torch.randn(256, 2))
    nearest_code = torch.cdist(centers, vq.embed).min(1).values
    if restarts:
        assert torch.all(nearest_code < 0.5), nearest_code
    else:
        assert torch.all(nearest_code[1:] > 3), nearest_code
