"""The contract every network declares so that transfer strategies and the training module act on
declarations, never on guesses about parameter names.

- ``key_to_encoder`` / ``key_to_decoder`` / ``key_to_head``: parameter-name prefixes of the three parts
  (tuples; together they cover every parameter), as dynamic-network-architectures' ``key_to_encoder``;
- ``spatial_dims`` (2: slices, 3: volumes) and ``divisor``: per spatial axis, the factor every input size
  must be a multiple of;
- ``in_channels``, ``num_classes`` (classes predicted, background included: a one-logit binary network
  has 2);
- ``input_mean`` / ``input_std``: per input channel, the normalisation a pretrained backbone expects of
  a [0, 1] CT (repeated to ``in_channels``); ``None`` feeds the CT as it is;
- ``pretrained_backbone``: the name of a standard backbone under ``key_to_encoder[0]`` whose public weights load
  (``"resnet50"``: torchvision's parameter names), else ``None``;
- ``head_stride``: the stride of the finest map the prediction is computed from (bilinearly upsampled to
  the input size), which bounds the detail the network can represent (``evaluation.ceiling``);
- ``tiny_kwargs``: the smallest working configuration (documentation, and what the generic tests build).
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn


class SegmentationNet(nn.Module):
    """Base class of the registered networks (plain ``nn.Module``s; ``training`` trains them)."""

    key_to_encoder: ClassVar[tuple[str, ...]] = ()
    key_to_decoder: ClassVar[tuple[str, ...]] = ()
    key_to_head: ClassVar[tuple[str, ...]] = ()
    spatial_dims: ClassVar[int] = 3
    head_stride: ClassVar[int] = 1
    pretrained_backbone: ClassVar[str | None] = None
    tiny_kwargs: ClassVar[dict[str, Any]] = {}

    in_channels: int = 1
    num_classes: int = 2
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None

    @property
    def divisor(self) -> tuple[int, ...]:
        """Per spatial axis, the factor every input size must be a multiple of."""
        return (1,) * self.spatial_dims
