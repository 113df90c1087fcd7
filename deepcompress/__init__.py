"""deepcompress: lossless compression with probabilities from maximum-likelihood models.

Decoding reproduces the encoder's probabilities bit for bit on any machine: everything
that feeds the entropy coder is computed in exact integer arithmetic.
"""

from deepcompress.api import (
    DEFAULT_MODEL,
    Stats,
    compress,
    compress_array,
    decompress,
    decompress_array,
    load_model,
    nll_bits,
    symbol_bits,
)
from deepcompress.errors import (
    CorruptStreamError,
    DeepCompressError,
    ModelFileError,
    ModelMismatchError,
    TruncatedStreamError,
    UnsupportedVersionError,
)
from deepcompress.fileobj import Compressor, Decompressor, DeepCompressFile, open
from deepcompress.surprisal import Segment, segment_bits, top_segments

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "Compressor",
    "CorruptStreamError",
    "Decompressor",
    "DeepCompressError",
    "DeepCompressFile",
    "ModelFileError",
    "ModelMismatchError",
    "Segment",
    "Stats",
    "TruncatedStreamError",
    "UnsupportedVersionError",
    "__version__",
    "compress",
    "compress_array",
    "decompress",
    "decompress_array",
    "load_model",
    "nll_bits",
    "open",
    "segment_bits",
    "symbol_bits",
    "top_segments",
]
