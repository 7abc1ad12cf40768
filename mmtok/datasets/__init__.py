"""Dataset tools: read fine-tuning data in its many formats, validate, measure, convert and pack it."""

from .formats import FORMATS, detect_format, get_format
from .measure import Lengths, Measurer, to_messages
from .sample import REASONS, Problem, RecordError, Sample

__all__ = ["FORMATS", "REASONS", "Lengths", "Measurer", "Problem", "RecordError", "Sample", "detect_format", "get_format", "to_messages"]
