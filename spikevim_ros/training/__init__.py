"""
Offline training of the spike-driven encoder (SpikeViMFormer objective).

SSA, SHS (HSM-SSD) and the classifier exist only here; HRAL refines features for the
self-distillation losses; :mod:`rerank` and :mod:`metrics` serve evaluation. What leaves
training is the backbone alone (``spikevim export``).
"""
