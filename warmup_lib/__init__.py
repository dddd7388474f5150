from warmup_lib.curvature import (  # noqa: F401
    SharpnessTracker, adam_threshold, hvp, momentum_threshold, preconditioned_sharpness, sgd_threshold, sharpness,
)
