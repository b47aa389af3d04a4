"""Depth models: ModelSpec, checkpoints, the project's encoder-decoder, Depth Anything V2, ONNX/TorchScript."""
