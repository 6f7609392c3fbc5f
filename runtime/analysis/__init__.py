"""Clinical analysis: vital signs in, alarm conditions out (docs/analysis.md).

The same code runs live (the runtime feeds each bed's records as they arrive) and offline
(`vigil analyze` feeds a recording as fast as the CPU allows). numpy and scipy only.
"""
