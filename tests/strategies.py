"""Hypothesis strategies shared by the tests of ``ops``: sizes, random tensors, convolution and
pooling cases."""

import torch
from hypothesis import strategies as st


def int_or_pair(low: int, high: int):
    """An int, or a (height, width) pair of ints, in [low, high]."""
    number = st.integers(low, high)
    return st.one_of(number, st.tuples(number, number))


def pair(value):
    """``(value, value)`` for an int, the pair itself for a pair."""
    return value if isinstance(value, tuple) else (value, value)


def random_tensor(seed: int, *shape: int, dtype: torch.dtype = torch.float32,
                  whole: bool = False) -> torch.Tensor:
    """Random numbers; ``whole``: small whole numbers, so that max-pool windows tie."""
    generator = torch.Generator().manual_seed(seed)
    if whole:
        return torch.randint(-2, 3, shape, generator=generator).to(dtype)
    return torch.randn(*shape, generator=generator, dtype=dtype)


@st.composite
def conv_cases(draw, max_size: int = 9, max_batch: int = 3, dtype: torch.dtype = torch.float32):
    """(x, weight, bias or None, stride, padding): non-square kernels that fit the padded input,
    stride and padding as ints or pairs; x is batched or one (C, H, W) image."""
    n, c, o = draw(st.integers(1, max_batch)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    stride, padding = draw(int_or_pair(1, 3)), draw(int_or_pair(0, 2))
    ph, pw = pair(padding)
    kh, kw = draw(st.integers(1, min(5, h + 2 * ph))), draw(st.integers(1, min(5, w + 2 * pw)))
    seed = draw(st.integers(0, 2**16))
    x = random_tensor(seed, n, c, h, w, dtype=dtype)
    weight = random_tensor(seed + 1, o, c, kh, kw, dtype=dtype)
    bias = random_tensor(seed + 2, o, dtype=dtype) if draw(st.booleans()) else None
    return (x if draw(st.booleans()) else x[0]), weight, bias, stride, padding


@st.composite
def pool_cases(draw, max_size: int = 8, max_batch: int = 2, dtype: torch.dtype = torch.float32,
               whole: bool = False):
    """(x, kernel_size, stride, padding) with padding at most half the kernel, as PyTorch needs;
    strides smaller than the kernel make windows overlap; x is batched or one (C, H, W) image."""
    kernel = draw(int_or_pair(1, 4))
    kh, kw = pair(kernel)
    ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    padding = ph if ph <= kw // 2 and draw(st.booleans()) else (ph, pw)  # an int pads both axes
    ph, pw = pair(padding)
    h = draw(st.integers(max(1, kh - 2 * ph), max_size))
    w = draw(st.integers(max(1, kw - 2 * pw), max_size))
    stride = draw(st.one_of(st.none(), int_or_pair(1, 3)))
    x = random_tensor(draw(st.integers(0, 2**16)), draw(st.integers(1, max_batch)),
                      draw(st.integers(1, 3)), h, w, dtype=dtype, whole=whole)
    return (x if draw(st.booleans()) else x[0]), kernel, stride, padding
