"""The quantized retrieval of text runs (text.retrieval): int8 codes, sign bits, their scores and
the ranks, against direct computations on a tiny set (sentence-transformers' documented
quantization: per-dimension ranges from calibration embeddings, 256 buckets, -128; binary: the
sign bits; scores as its exact indexes rank them, int8 inner product and Hamming distance)."""

import math

import pytest
import torch

pytest.importorskip("sentence_transformers")

from contrastlens.text.retrieval import (  # noqa: E402
    quantized_codes,
    quantized_scores,
    ranks_from_scores,
)


def _unit(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=1)


def _int8_direct(x, calibration):
    lo = calibration.min(dim=0).values.tolist()
    hi = calibration.max(dim=0).values.tolist()
    out = []
    for row in x.tolist():
        codes = []
        for value, a, b in zip(row, lo, hi):
            step = (b - a) / 255 if b > a else 1.0
            codes.append(min(max(math.floor((value - a) / step), 0), 255) - 128)
        out.append(codes)
    return out


def test_int8_codes_and_scores_are_the_documented_ones():
    q, d, cal = _unit(5, 16, 0), _unit(7, 16, 1), _unit(40, 16, 2)
    codes_q, codes_d = quantized_codes(q, "int8", cal), quantized_codes(d, "int8", cal)
    # the formula in float64 from the float32 embeddings: the same codes (a value within float32
    # rounding of a bucket edge could differ by one; none does here)
    assert codes_q.tolist() == _int8_direct(q, cal) and codes_d.tolist() == _int8_direct(d, cal)
    assert codes_d.min() >= -128 and codes_d.max() <= 127
    scores = quantized_scores(codes_q, codes_d, "int8")
    direct = [
        [sum(a * b for a, b in zip(r, c)) for c in codes_d.tolist()] for r in codes_q.tolist()
    ]
    assert scores.tolist() == direct  # exact integer inner products
    # out-of-range values clip to the ends of the calibration range
    far = torch.full((1, 16), 5.0)
    assert quantized_codes(far, "int8", cal).tolist() == [[127.0] * 16]


def test_binary_scores_are_minus_the_hamming_distance():
    q, d = _unit(4, 20, 3), _unit(6, 20, 4)  # 20 bits: np.packbits pads to 24, trimmed back
    bits_q, bits_d = quantized_codes(q, "binary", None), quantized_codes(d, "binary", None)
    assert bits_q.shape == (4, 20) and torch.equal(bits_q, (q > 0).double())
    scores = quantized_scores(bits_q, bits_d, "binary")
    hamming = [
        [sum(a != b for a, b in zip(r, c)) for c in (d > 0).tolist()] for r in (q > 0).tolist()
    ]
    assert scores.tolist() == [[-h for h in row] for row in hamming]
    with pytest.raises(ValueError, match="precision must be one of int8, binary"):
        quantized_codes(q, "int4", None)


def test_ranks_follow_score_then_document_id():
    # documents' ids in ascending order: 2, 0, 1, 3 (id_order_C gives each column's position)
    id_order = torch.tensor([1, 2, 0, 3])
    scores = torch.tensor(
        [
            [5.0, 5.0, 5.0, 1.0],  # ties: column 2 first (smallest id), then 0, then 1
            [0.0, 9.0, 1.0, 2.0],
            [3.0, 3.0, 3.0, 3.0],
        ]
    )
    relevant = torch.tensor([1, 0, 2])
    assert ranks_from_scores(scores, relevant, id_order) == [3, 4, 1]
    many = torch.arange(12.0)[None, :]  # the relevant column last of 12: beyond the top 10
    assert ranks_from_scores(many, torch.tensor([0]), torch.arange(12)) == [0]
