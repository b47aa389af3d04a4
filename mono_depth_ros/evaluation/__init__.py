"""Offline evaluation: how well scale recovery and depth outputs do against truth (never imported by the node path).

``scale``: oracle predictions of each output kind and the error metrics; ``scale_protocol``: the evaluation of scale
recovery on real KITTI frames (docs/scale_eval.md); ``scale_sequence``: synthetic sequences for the temporal filter.
"""
