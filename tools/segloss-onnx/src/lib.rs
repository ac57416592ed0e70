//! ONNX export (work in progress).
