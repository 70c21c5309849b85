"""msg.nn: graph layers (manifold spiking convolutions, encoders) and decoders."""

from .decoders import FermiDiracDecoder
from .manifold_conv import ManifoldSpikingConv, SpikingEncoder

__all__ = ["FermiDiracDecoder", "ManifoldSpikingConv", "SpikingEncoder"]
