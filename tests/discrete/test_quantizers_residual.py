"""Residual VQ (SoundStream / RQ-VAE): error non-increasing with stages (a k-means identity: a cluster
mean is at least as close to its vectors as 0), decode(encode(z)) equals forward's z_q, the loss is
the sum of the stages' VQ losses, and the indices match vector-quantize-pytorch's ResidualVQ with
the same codebooks copied in."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from mmtok.discrete.quantizers import get_quantizer  # noqa: E402
from mmtok.errors import InvalidOptionError  # noqa: E402


def test_error_does_not_grow_with_stages():
    torch.manual_seed(0)
    z = torch.randn(600, 8, dtype=torch.float64)
    rvq = get_quantizer("residual-vq", codebook_size=16, dim=8, stages=6, kmeans_init=True).double()
    rvq.train()(z)  # k-means on each stage's residuals
    rvq.eval()
    idx = rvq.encode(z)
    errors = [float((z**2).sum())] + [float(((z - rvq.decode(idx[:, :s])) ** 2).sum()) for s in range(1, 7)]
    assert all(b <= a * (1 + 1e-12) for a, b in zip(errors, errors[1:])), errors
    assert errors[-1] < 0.5 * errors[0]


@pytest.mark.parametrize("opts", [{}, {"ema": True}, {"codebook_dim": 4, "l2_norm": False}])
def test_decode_encode_equals_forward(opts):
    torch.manual_seed(1)
    rvq = get_quantizer("rvq", codebook_size=32, dim=8, stages=3, **opts).eval()
    z = torch.randn(2, 7, 8)
    out = rvq(z)
    assert out.indices.shape == (2, 7, 3)
    assert torch.equal(rvq.encode(z), out.indices)
    assert torch.equal(rvq.decode(out.indices), out.z_q)
    assert out.z_q.shape == z.shape


def test_straight_through_and_loss_is_sum_of_stage_losses():
    torch.manual_seed(2)
    beta = 0.25
    rvq = get_quantizer("rvq", codebook_size=8, dim=3, stages=3, beta=beta)
    for layer in rvq.layers:
        with torch.no_grad():
            layer.embed.normal_()
    z = torch.randn(5, 3)
    jac = torch.autograd.functional.jacobian(lambda t: rvq(t).z_q, z)
    assert torch.equal(jac.reshape(15, 15), torch.eye(15))
    z.requires_grad_(True)
    out = rvq(z)
    residual, expected, grad = z.detach().clone(), 0.0, torch.zeros_like(z)
    for s, layer in enumerate(rvq.layers):
        q = layer.embed.detach()[torch.cdist(residual, layer.embed.detach()).argmin(1)]
        assert torch.equal(out.indices[:, s], torch.cdist(residual, layer.embed.detach()).argmin(1))
        expected += (1 + beta) * F.mse_loss(residual, q)  # codebook + beta * commitment, same value
        grad += beta * 2 * (residual - q) / residual.numel()  # every stage's commitment term reaches z
        residual = residual - q
    assert torch.allclose(out.loss, expected)
    out.loss.backward()
    assert torch.allclose(z.grad, grad)


def test_matches_vector_quantize_pytorch_residual_vq():
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(3)
    K, D, S = 32, 6, 4
    ref = vqp.ResidualVQ(dim=D, num_quantizers=S, codebook_size=K, rotation_trick=False).eval()
    ours = get_quantizer("rvq", codebook_size=K, dim=D, stages=S).eval()
    for r, o in zip(ref.layers, ours.layers):
        E = torch.randn(K, D) / 2
        with torch.no_grad():
            r.codebook = E
            o.embed.copy_(E)
    z = torch.randn(2, 40, D)
    q_ref, idx_ref, _ = ref(z)
    out = ours(z)
    assert torch.equal(out.indices, idx_ref)
    assert torch.allclose(out.z_q, q_ref, atol=1e-5)
    assert torch.allclose(ours.decode(idx_ref), ref.get_output_from_indices(idx_ref), atol=1e-5)


def test_usage_per_stage_and_errors():
    rvq = get_quantizer("rvq", codebook_size=4, dim=2, stages=2).eval()
    rvq(torch.randn(10, 2))
    u = rvq.usage()
    assert len(u["stages"]) == 2 and u["used"] == sum(s["used"] for s in u["stages"])
    assert u["dead"] == 8 - u["used"] and u["count"] == 10
    rvq.reset_usage()
    assert rvq.usage()["used"] == 0
    with pytest.raises(InvalidOptionError, match="stages"):
        rvq.decode(torch.zeros(3, 3, dtype=torch.long))
    with pytest.raises(InvalidOptionError, match="stages"):
        get_quantizer("rvq", codebook_size=4, dim=2, stages=0)
    with pytest.raises(InvalidOptionError, match="temperature"):
        get_quantizer("rvq", codebook_size=4, dim=2, temperature=2)
