"""Errors a user can act on; each message says what is wrong and what to do. The CLI prints
them as one line and exits 2."""


class DataError(Exception):
    """Something about the data directory is wrong."""


class MissingIndexError(DataError):
    pass


class CorruptIndexError(DataError):
    pass


class ModelMismatchError(DataError):
    pass


class WriterBusyError(DataError):
    pass
