"""solve-padding against torch: the output_padding makes ConvTranspose give back the size, and
same_padding (applied with F.pad) makes Conv give ceil(size/stride)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netcalc.padding import solve_axis
from netcalc.symbolic import ceil_div

torch = pytest.importorskip("torch", reason="differential suite needs torch==2.13.0 (pip install torch==2.13.0)")
F = torch.nn.functional


@settings(max_examples=60, deadline=None, derandomize=True)
@given(size=st.integers(1, 40), kernel=st.integers(1, 7), stride=st.integers(1, 4), padding=st.integers(0, 3),
       dilation=st.integers(1, 3))
def test_output_padding_and_same_padding_in_torch(size, kernel, stride, padding, dilation):
    if dilation * (kernel - 1) + 1 > size + 2 * padding:
        return
    a = solve_axis(size, kernel, stride, padding, dilation)
    x = torch.zeros(1, 1, size)
    conv = torch.nn.Conv1d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation)
    y = conv(x)
    assert y.shape[-1] == a.conv_output
    tconv = torch.nn.ConvTranspose1d(1, 1, kernel, stride=stride, padding=padding, dilation=dilation,
                                     output_padding=a.output_padding)
    assert tconv(y).shape[-1] == size
    before, after = a.same_padding
    same = torch.nn.Conv1d(1, 1, kernel, stride=stride, dilation=dilation)(F.pad(x, (before, after)))
    assert same.shape[-1] == ceil_div(size, stride)
    if stride == 1:  # what padding="same" does, which torch allows only at stride 1
        ref = torch.nn.Conv1d(1, 1, kernel, dilation=dilation, padding="same")(x)
        assert ref.shape[-1] == same.shape[-1]
