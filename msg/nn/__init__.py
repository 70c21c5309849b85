"""msg.nn: graph layers (manifold spiking convolutions, encoders) and decoders."""

from .decoders import CosineDecoder, FermiDiracDecoder
from .manifold_conv import ManifoldSpikingConv, SpikingEncoder

__all__ = ["CosineDecoder", "FermiDiracDecoder", "ManifoldSpikingConv", "SpikingEncoder"]
