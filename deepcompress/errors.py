"""Typed errors for data that cannot be decoded. Imports nothing.

Caller mistakes (wrong argument types or values) raise the built-in `ValueError` /
`TypeError`; problems with the *data* raise a `DeepCompressError` subclass, so callers
can tell "you called me wrong" from "this file is bad".
"""


class DeepCompressError(Exception):
    """Base class of every error about compressed data or model files."""


class CorruptStreamError(DeepCompressError):
    """The data is not a valid deepcompress stream, or fails its checksum."""


class TruncatedStreamError(DeepCompressError, EOFError):
    """The stream ends before the data it declares."""


class UnsupportedVersionError(DeepCompressError):
    """The stream was written by a newer, incompatible format version."""


class ModelMismatchError(DeepCompressError):
    """The stream needs a different model than the one given (fingerprints differ)."""


class ModelFileError(DeepCompressError):
    """A model file is missing, damaged, or not a deepcompress model."""
