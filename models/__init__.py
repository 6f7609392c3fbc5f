"""vigil.models: reference models, their synthetic data, training and weights.

Only `vigil.models.synthetic` (numpy/scipy, no torch) may be imported by the runtime, the
bridge's simulator, tests and benchmarks.
"""
