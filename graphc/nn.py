"""`gc.nn`: convolution and pooling in PyTorch's terms, and SciPy's convolve/correlate.

Owns nothing: re-exports the builders declared in graphc/ops/nn.py (listed in
graphc.ops.NN, which keeps them out of the top-level namespace: `gc.nn.convolve`
has SciPy's semantics, so it must not be what `np.convolve` on a tensor means).
Imports: ops (layer L5 wiring).
"""

from .ops.nn import avg_pool2d, conv1d, conv2d, convolve, correlate, max_pool2d

__all__ = ["avg_pool2d", "conv1d", "conv2d", "convolve", "correlate", "max_pool2d"]
