"""msg: spiking graph neural networks on Riemannian manifolds.

Subpackages: ``msg.manifolds`` (Lorentz, sphere, Euclidean, products), ``msg.neurons`` (IF/LIF/ALIF core),
``msg.credit`` (temporal credit assignment), ``msg.nn`` (graph layers), ``msg.models``, ``msg.datasets``,
``msg.tasks`` (node classification, link prediction) and ``msg.ops`` (aggregation backends, energy counting).
"""

__version__ = "0.1.0"
