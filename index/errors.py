"""Errors a caller can act on. Each message says what is wrong, in terms of files and data, not
of commands: the front ends know their own commands and add them (`search.cli` maps each class
below to the command that fixes it)."""


class DataError(Exception):
    """Something about the data directory, a source or a model is wrong."""


class MissingIndexError(DataError):
    """There is no index (or an empty one) where one was expected."""


class StaleIndexError(DataError):
    """A derived index was built by another version of the program: it must be rebuilt."""


class CorruptIndexError(DataError):
    """A file of the data directory cannot be read."""


class ModelMismatchError(DataError):
    """The vectors were made by another embedding model than the one asked for."""


class ModelNotInstalledError(DataError):
    """The embedding model is not on this machine yet."""


class ModelLoadError(DataError):
    """The embedding model is installed but cannot be loaded, exported or run."""


class WriterBusyError(DataError):
    """Another process holds the data directory's writer lock."""


class CorruptStoreError(CorruptIndexError):
    """The store itself (the source of truth, not derivable) cannot be read."""


class NoSuchPostError(DataError, KeyError):
    """An id the index holds no post for (a KeyError too, as a mapping's missing key is)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ReadOnlyError(DataError):
    """The data directory may not be written, and what was asked needs to write to it."""
