"""Encoder names, in a module that imports nothing: the CLI's argument defaults read them without numpy or models."""

RAW_ENCODER = "efficientnet-lite0"  # ImageNet pooled head features, nothing learned on scenes
SCENES_ENCODER = "efficientnet-lite0-scenes"  # the default: projected multi-stage features + scene-type probe
DEFAULT_ENCODER = SCENES_ENCODER
