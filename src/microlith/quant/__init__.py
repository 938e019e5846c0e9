"""Quantization and TFLite int8 export: ``quantize`` turns a float model into
an integer Graph (TFLite int8 spec, optional 16x8 layers), ``write_tflite``
turns a Graph into .tflite bytes that TensorFlow Lite Micro runs."""

from .observers import METHODS, Observer, choose_range
from .quantize import QuantResult, quantize, quantize_to_tflite, sqnr_db
from .tflite_writer import write_tflite

__all__ = ["METHODS", "Observer", "QuantResult", "choose_range", "quantize",
           "quantize_to_tflite", "sqnr_db", "write_tflite"]
