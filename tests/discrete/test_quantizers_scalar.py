"""FSQ (Mentzer et al. 2023) and LFQ (MAGVIT-v2, Yu et al. 2023) quantizers. References: the formulas of
the papers (FSQ's appendix A.1 bound, LFQ's sign code and binary index) worked by hand, and
vector-quantize-pytorch's FSQ and LFQ run on the same input."""

from __future__ import annotations

import itertools
import math

import pytest

torch = pytest.importorskip("torch")

from mmtok.discrete.quantizers import get_quantizer  # noqa: E402
from mmtok.errors import InvalidOptionError  # noqa: E402

# --- FSQ ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [[8, 5, 5, 5], [3, 4], [7, 5, 5, 5, 5], [2, 3, 6]])
def test_fsq_index_code_round_trip_over_all_codes(levels):
    fsq = get_quantizer("fsq", levels=levels)
    K = math.prod(levels)
    assert fsq.codebook_size == K and fsq.dim == len(levels)
    idx = torch.arange(K)
    codes = fsq.indices_to_codes(idx)
    assert torch.equal(fsq.codes_to_indices(codes), idx)
    assert len({tuple(c) for c in codes.tolist()}) == K
    # the grid: channel i takes the values (j - L//2) / (L//2), j = 0..L-1, and index = mixed radix, first digit lowest
    grids = [[(j - L // 2) / (L // 2) for j in range(L)] for L in levels]
    expected = [list(reversed(p)) for p in itertools.product(*reversed(grids))]
    assert torch.allclose(codes, torch.tensor(expected))
    # decode(encode(code)) for z that lands on each grid point: z = atanh((round value + offset) / half_l) - shift
    half_l = torch.tensor([(L - 1) * 1.001 / 2 for L in levels], dtype=torch.float64)
    offset = torch.tensor([0.5 if L % 2 == 0 else 0.0 for L in levels], dtype=torch.float64)
    hw = torch.tensor([L // 2 for L in levels], dtype=torch.float64)
    z = torch.atanh((codes.double() * hw + offset) / half_l) - torch.atanh(offset / half_l)
    assert torch.equal(fsq.encode(z.float()), idx)


def test_fsq_bound_follows_the_paper_and_values_lie_on_the_grid():
    torch.manual_seed(0)
    levels = [8, 5, 5, 5]
    fsq = get_quantizer("fsq", levels=levels)
    z = torch.randn(500, 4, dtype=torch.float64) * 3
    out = fsq(z)
    # appendix A.1: half_l = (L-1)(1+eps)/2, offset = 0.5 for even L, shift = atanh(offset/half_l)
    L = torch.tensor(levels, dtype=torch.float64)
    half_l = (L - 1) * (1 + 1e-3) / 2
    offset = torch.where(L % 2 == 0, 0.5, 0.0)
    bounded = torch.tanh(z + torch.atanh(offset / half_l)) * half_l - offset
    assert torch.allclose(fsq.bound(z), bounded)
    assert torch.allclose(out.z_q, bounded.round() / (L // 2))
    for i, Li in enumerate(levels):
        values = set((out.z_q[:, i] * (Li // 2)).round().tolist())
        assert values == set(range(-(Li // 2), Li - Li // 2))  # all Li grid values reached, nothing else
    assert float(out.loss) == 0.0


def test_fsq_gradient_is_that_of_the_bound():
    levels = [8, 5, 5, 5]
    fsq = get_quantizer("fsq", levels=levels)
    z = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    fsq(z).z_q.sum().backward()
    L = torch.tensor(levels, dtype=torch.float64)
    half_l = (L - 1) * (1 + 1e-3) / 2
    shift = torch.atanh(torch.where(L % 2 == 0, 0.5, 0.0) / half_l)
    expected = (1 - torch.tanh(z.detach() + shift) ** 2) * half_l / (L // 2)
    assert torch.allclose(z.grad, expected)


@pytest.mark.parametrize("levels,dim", [([8, 5, 5, 5], None), ([8, 8, 8, 6, 5], None), ([7, 5, 5, 5, 5], 16)])
def test_fsq_matches_vector_quantize_pytorch(levels, dim):
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(1)
    ref = vqp.FSQ(levels=levels, dim=dim)
    ours = get_quantizer("fsq", levels=levels, dim=dim)
    if dim:
        ours.load_state_dict(ref.state_dict(), strict=False)
        assert torch.equal(ours.project_in.weight, ref.project_in.weight)
    z = torch.randn(2, 300, dim or len(levels)) * 2
    q_ref, idx_ref = ref(z)
    out = ours(z)
    assert torch.equal(out.indices, idx_ref.long())
    assert torch.allclose(out.z_q, q_ref, atol=1e-6)
    assert torch.allclose(ours.decode(out.indices), ref.indices_to_codes(idx_ref), atol=1e-6)
    assert ours.codebook_size == ref.codebook_size


def test_fsq_levels_for_codebook_size_and_errors():
    assert get_quantizer("fsq", codebook_size=1024).levels == [8, 5, 5, 5]
    assert get_quantizer("fsq", codebook_size=1024).codebook_size == 1000  # the paper's levels for ~2^10 codes
    assert get_quantizer("fsq", codebook_size=2**16).levels == [8, 8, 8, 5, 5, 5]
    with pytest.raises(InvalidOptionError, match="levels"):
        get_quantizer("fsq", codebook_size=1000)
    with pytest.raises(InvalidOptionError, match=">= 2"):
        get_quantizer("fsq", levels=[8, 1])
    with pytest.raises(InvalidOptionError, match="not codebook_size"):
        get_quantizer("fsq", levels=[8, 5], codebook_size=41)


def test_fsq_usage():
    fsq = get_quantizer("fsq", levels=[3, 3]).eval()
    fsq.encode(torch.tensor([[-5.0, -5.0], [0.0, 0.0], [5.0, 5.0], [5.0, 5.0]]))  # codes 0, 4, 8, 8
    u = fsq.usage()
    assert (u["used"], u["dead"], u["count"]) == (3, 6, 4)
    assert u["perplexity"] == pytest.approx(math.exp(-(2 * 0.25 * math.log(0.25) + 0.5 * math.log(0.5))))


# --- LFQ ------------------------------------------------------------------------------------------


def test_lfq_codes_are_signs_and_index_is_binary():
    z = torch.tensor([[0.5, 0.3, -2.0], [-1.0, -1.0, -1.0], [1.0, -3.0, 0.2]])
    little = get_quantizer("lfq", bits=3)
    big = get_quantizer("lfq", codebook_size=8, bit_order="big")
    assert little(z).indices.tolist() == [1 + 2, 0, 1 + 4]  # paper: sum_i 2^(i-1) [z_i > 0]
    assert big(z).indices.tolist() == [4 + 2, 0, 4 + 1]
    out = little(z)
    assert torch.equal(out.z_q, torch.sign(z))
    assert torch.equal(little.decode(out.indices), torch.sign(z))
    assert set(little.decode(torch.arange(8)).unique().tolist()) == {-1.0, 1.0}
    assert little.decode(torch.arange(8)).unique(dim=0).shape == (8, 3)


def test_lfq_straight_through_gradient_is_identity():
    lfq = get_quantizer("lfq", bits=4, entropy_weight=0.0, commitment_weight=0.0)
    z = torch.randn(3, 4)
    jac = torch.autograd.functional.jacobian(lambda t: lfq(t).z_q, z)
    assert torch.equal(jac.reshape(12, 12), torch.eye(12))


@pytest.mark.parametrize("gamma,commit", [(1.0, 0.0), (0.5, 0.25)])
def test_lfq_matches_vector_quantize_pytorch(gamma, commit):
    vqp = pytest.importorskip("vector_quantize_pytorch")
    torch.manual_seed(2)
    bits = 6
    ref = vqp.LFQ(dim=bits, codebook_size=2**bits, entropy_loss_weight=0.1, commitment_loss_weight=commit, diversity_gamma=gamma)
    ours = get_quantizer("lfq", bits=bits, entropy_weight=0.1, commitment_weight=commit, diversity_gamma=gamma, bit_order="big")
    little = get_quantizer("lfq", bits=bits, entropy_weight=0.1, commitment_weight=commit, diversity_gamma=gamma)
    z = torch.randn(2, 40, bits) * 0.1
    ref.train(), ours.train()
    (q_ref, idx_ref, aux_ref), parts = ref(z, inv_temperature=100.0, return_loss_breakdown=True)
    out = ours(z)
    assert torch.equal(out.indices, idx_ref)
    assert torch.equal(little(z.flip(-1)).indices, idx_ref)  # the two bit orders differ by channel order
    assert torch.allclose(out.z_q, q_ref)
    assert out.stats["per_sample_entropy"] == pytest.approx(float(parts.per_sample_entropy), rel=1e-5)
    assert out.stats["codebook_entropy"] == pytest.approx(float(parts.batch_entropy), rel=1e-5)
    assert torch.allclose(out.loss, aux_ref, atol=1e-6)
    ours.eval()
    assert float(ours(z).loss) == 0.0  # as the reference: no entropy term outside training


def test_lfq_entropy_terms_by_hand():
    # one bit, two vectors: p(code | z) = softmax over codes -1, +1 of -t * (z - c)^2
    lfq = get_quantizer("lfq", bits=1, entropy_weight=1.0, commitment_weight=0.0, inv_temperature=2.0).train()
    z = torch.tensor([[0.3], [-0.1]], dtype=torch.float64)
    out = lfq(z)

    def H(p):
        return -sum(v * math.log(max(v, 1e-5)) for v in p)

    probs = []
    for (x,) in z.tolist():
        a, b = math.exp(-2.0 * (x + 1) ** 2), math.exp(-2.0 * (x - 1) ** 2)
        probs.append([a / (a + b), b / (a + b)])
    per_sample = (H(probs[0]) + H(probs[1])) / 2
    codebook = H([(probs[0][k] + probs[1][k]) / 2 for k in range(2)])
    assert float(out.loss) == pytest.approx(per_sample - codebook, rel=1e-9)


def test_lfq_projection_and_errors():
    lfq = get_quantizer("lfq", codebook_size=2**5, dim=12).eval()
    z = torch.randn(4, 12)
    out = lfq(z)
    assert out.z_q.shape == (4, 12) and lfq.codebook_size == 32
    assert torch.equal(lfq.decode(out.indices), out.z_q)
    assert torch.equal(out.indices, ((lfq.project_in(z) > 0).long() * (2 ** torch.arange(5))).sum(-1))
    with pytest.raises(InvalidOptionError, match="power of 2"):
        get_quantizer("lfq", codebook_size=1000)
    with pytest.raises(InvalidOptionError, match="bit_order"):
        get_quantizer("lfq", bits=4, bit_order="msb")
