"""The default embedding runtime: a sentence-transformers model exported to ONNX Runtime.

Why not PyTorch at query and index time: on a 2-core CPU the int8 ONNX graph embeds about
2.5x faster than `SentenceTransformer.encode` in fp32, and it loads in a fraction of a second
without importing torch, transformers or sentence-transformers (about 6 s of imports here), so
a cold `search index` of one changed post or a first semantic query takes about a second.

The graph is exported once, with torch, from the very checkpoint sentence-transformers loads
(the folder's Transformer module), and the pooling and normalization are read from the same
folder, so the vectors are the sentence-transformers vectors: fp32 cosine 1.0000 and int8
cosine >= 0.99 against `SentenceTransformer.encode` (tests/test_onnx.py). int8 weights are
quantized per output channel (mean cosine 0.997 to fp32; per tensor gave 0.988).

Texts run one per call: dynamic quantization scales activations by the whole input tensor,
so in a batch a text's vector would depend on its batch-mates (and on their padding). One per
call makes every vector a function of its text alone, needs no padding, and measured as fast
as length-sorted batches on this machine.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import DataError, ModelLoadError
from index.models.spec import ModelSpec, TextKind

ONNX_DIR = "onnx"  # the subfolder sentence-transformers itself uses for ONNX files
OPSET = 17


def onnx_file(folder: Path, quantized: bool) -> Path:
    """Where the exported graph of a sentence-transformers folder lives."""
    return Path(folder) / ONNX_DIR / ("model_qint8.onnx" if quantized else "model.onnx")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from None


def _modules(folder: Path) -> list[dict[str, Any]]:
    modules = _read_json(folder / "modules.json")
    if not isinstance(modules, list):
        raise ModelLoadError(f"{folder / 'modules.json'} is not a list of modules")
    return modules


def _module_path(folder: Path, kind: str) -> Path | None:
    """The folder of the first module whose type ends with `kind` (e.g. ``Pooling``)."""
    for module in _modules(folder):
        if str(module.get("type", "")).rsplit(".", 1)[-1] == kind:
            return folder / str(module.get("path", ""))
    return None


def transformer_folder(folder: Path) -> Path:
    path = _module_path(folder, "Transformer")
    if path is None:
        raise ModelLoadError(
            f"{folder} has no Transformer module: only transformer encoders export"
        )
    return path


def pooling(folder: Path) -> tuple[str, int]:
    """The pooling mode (``mean`` or ``cls``) and the embedding dimension."""
    path = _module_path(folder, "Pooling")
    if path is None:
        raise ModelLoadError(f"{folder} has no Pooling module")
    cfg = _read_json(path / "config.json")
    modes = [k for k, v in cfg.items() if k.startswith("pooling_mode_") and v is True]
    mode = cfg.get("pooling_mode") or (modes[0].removeprefix("pooling_mode_") if modes else "")
    mode = {"mean_tokens": "mean", "cls_token": "cls"}.get(mode, mode)
    if mode not in ("mean", "cls") or len(modes) > 1:
        raise ModelLoadError(
            f"{path} uses pooling {modes or mode!r}; the ONNX runtime supports mean or cls "
            "pooling only"
        )
    return mode, int(cfg["word_embedding_dimension"])


def max_length(folder: Path) -> int:
    tf = transformer_folder(folder)
    limits = []
    for name, key in (
        ("sentence_bert_config.json", "max_seq_length"),
        ("tokenizer_config.json", "model_max_length"),
        ("config.json", "max_position_embeddings"),
    ):
        path = tf / name
        if path.is_file():
            value = _read_json(path).get(key)
            if isinstance(value, int) and 0 < value < 1_000_000:
                limits.append(value)
    return min(limits) if limits else 512


def _input_names(folder: Path) -> list[str]:
    cfg_path = transformer_folder(folder) / "tokenizer_config.json"
    names = _read_json(cfg_path).get("model_input_names") if cfg_path.is_file() else None
    names = names or ["input_ids", "token_type_ids", "attention_mask"]
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in names]


# --------------------------------------------------------------------------- export


def _export_fp32(folder: Path, dest: Path) -> None:
    import torch
    from transformers import AutoModel

    from index.models.torch import quiet_transformers  # torch is being imported anyway

    quiet_transformers()
    names = _input_names(folder)
    model = AutoModel.from_pretrained(
        str(transformer_folder(folder)), attn_implementation="eager"
    ).eval()

    class LastHidden(torch.nn.Module):
        """Keyword arguments in, last hidden state out: a plain graph for the exporter."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    # A padded batch of two, so the traced graph takes the attention-mask path.
    example = {
        "input_ids": torch.tensor([[0, 10, 11, 2], [0, 12, 2, 1]]),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]),
        "token_type_ids": torch.zeros(2, 4, dtype=torch.long),
    }
    axes = {0: "batch", 1: "tokens"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: the torch.export-based one needs onnxscript, and this
        # graph (a BERT encoder) is exactly what the older exporter handles well.
        torch.onnx.export(
            LastHidden(),
            tuple(example[n] for n in names),
            str(dest),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={**{n: axes for n in names}, "last_hidden_state": axes},
            opset_version=OPSET,
            dynamo=False,
        )


def _quantize(src: Path, dest: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)  # the quantizer logs advice to the root logger
    try:
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.disable(previous)


def export_onnx(
    folder: Path, *, quantized: bool = True, say: Callable[[str], None] | None = None
) -> Path:
    """Write ``onnx/model[_qint8].onnx`` into a sentence-transformers folder, once.

    Takes about 20 s and needs torch; later runs find the file. A file lock keeps two
    processes from exporting twice, and the file is renamed into place only when complete.
    """
    folder = Path(folder)
    target = onnx_file(folder, quantized)
    if target.is_file():
        return target
    from filelock import FileLock  # only now: importing it costs ~0.2 s of every cold query

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".export.lock")):
        if target.is_file():
            return target
        if say:
            say(f"exporting the model to ONNX{' (int8)' if quantized else ''}, once")
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".export.") as tmp:
            fp32 = onnx_file(folder, False)
            try:
                if not fp32.is_file():
                    fp32 = Path(tmp) / "model.onnx"
                    _export_fp32(folder, fp32)
                built = Path(tmp) / target.name
                if quantized:
                    _quantize(fp32, built)
                else:
                    os.replace(fp32, built)
            except DataError:
                raise
            except Exception as exc:
                raise ModelLoadError(
                    f"cannot export {folder} to ONNX ({type(exc).__name__}: {_first_line(exc)})"
                ) from None
            os.replace(built, target)
    return target


def mapped_file(graph: Path) -> Path:
    """The copy of `graph` whose weights live in a file beside it (`.data`)."""
    return graph.with_name(graph.stem + ".mapped.onnx")


def map_weights(graph: Path) -> Path | None:
    """Write, once, a copy of `graph` with its weights in an external `.data` file, which ONNX
    Runtime memory-maps instead of copying out of the protobuf: the session opens in 0.12-0.16
    s instead of 0.35 s and its peak memory drops from 220 MB to 42 MB (e5 int8, measured side
    by side; identical vectors). None when it cannot be written (the original is used)."""
    target = mapped_file(graph)
    if target.is_file():
        return target
    try:
        import onnx

        with tempfile.TemporaryDirectory(dir=graph.parent, prefix=".map.") as tmp:
            built = Path(tmp) / target.name
            data = target.name + ".data"
            onnx.save_model(
                onnx.load(str(graph)),
                str(built),
                save_as_external_data=True,
                all_tensors_to_one_file=True,
                location=data,
                size_threshold=1024,
            )
            os.replace(Path(tmp) / data, target.parent / data)  # the data first: the graph
            os.replace(built, target)  # is the marker that both are whole
    except Exception:  # read-only folder, full disk, an onnx that cannot: the original serves
        return None
    return target


def optimized_file(graph: Path) -> Path:
    """Where the copy of `graph` that ONNX Runtime has optimised lives: named by the runtime's
    version, since the fused operators it writes are that version's."""
    import onnxruntime as ort

    return graph.with_name(f"{graph.stem}.ort-{ort.__version__}.onnx")


def optimize_graph(graph: Path) -> Path | None:
    """Write, once, `graph` as ONNX Runtime optimises it (extended level: the fusions, which do
    not depend on the machine), its weights in an external `.data` file the session maps. Loaded
    with optimisation off, the session opens in 0.03 s instead of 0.10 s (e5 int8, this machine)
    with bit-identical vectors (tests/test_cold.py). None when it cannot be written."""
    import onnxruntime as ort

    target = optimized_file(graph)
    if target.is_file():
        return target
    source = mapped_file(graph) if mapped_file(graph).is_file() else graph
    try:
        with tempfile.TemporaryDirectory(dir=graph.parent, prefix=".optimize.") as tmp:
            built = Path(tmp) / target.name
            data = target.name + ".data"
            options = ort.SessionOptions()
            options.log_severity_level = 3
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
            options.optimized_model_filepath = str(built)
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_file_name", data
            )
            options.add_session_config_entry(
                "session.optimized_model_external_initializers_min_size_in_bytes", "1024"
            )
            ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])
            os.replace(Path(tmp) / data, target.parent / data)  # the data first: the graph
            os.replace(built, target)  # is the marker that both are whole
    except Exception:  # read-only folder, full disk: the mapped copy or the original serves
        return None
    return target


# --------------------------------------------------------------------------- inference


class OnnxEncoder:
    """Texts -> unit vectors with ONNX Runtime and the folder's own tokenizer and pooling."""

    def __init__(
        self,
        folder: Path,
        spec: ModelSpec | None = None,
        *,
        threads: int | None = None,
        spin: bool = False,
    ) -> None:
        """`spin`: worker threads busy-wait between calls. 6% more passages/s when indexing,
        but on 2 cores the spinning threads slow whatever runs between two queries (FAISS,
        snippets): hybrid p50 33 -> 24 ms with it off."""
        import onnxruntime as ort

        from index.models.unigram import QueryTokenizer

        self.spec = spec or ModelSpec()
        folder = Path(folder)
        path = onnx_file(folder, self.spec.quantize)
        self.pooling, self._dim = pooling(folder)
        self._tokenizer_path = transformer_folder(folder) / "tokenizer.json"
        self._max_length = max_length(folder)
        self._tokenizer: Any = None  # `tokenizers`' own, opened when a text needs it
        self._tokenizer_lock = threading.Lock()
        # Queries: the same ids without `tokenizers`' 0.64 s, 300 MB load (index/models/unigram.py).
        self._quick = (
            QueryTokenizer.open(self._tokenizer_path, path.parent, self._max_length)
            if self._tokenizer_path.is_file()
            else None
        )
        if self._quick is None:
            self._full_tokenizer()  # its errors are the model's: say them now
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
        if threads:
            options.intra_op_num_threads = threads
        # The first of these that opens is the file the session runs: the optimised copy (with
        # optimisation off: it is done), the mapped copy, the original (absent or damaged
        # copies are passed over: the original is what counts).
        for self.graph, optimized in (
            (optimized_file(path), True),
            (mapped_file(path), False),
            (path, False),
        ):
            if self.graph != path and not self.graph.is_file():
                continue
            level = "ORT_DISABLE_ALL" if optimized else "ORT_ENABLE_ALL"  # ALL: ORT's default
            options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
            try:
                self.session = ort.InferenceSession(
                    str(self.graph), options, providers=["CPUExecutionProvider"]
                )
                break
            except Exception as exc:
                if self.graph == path:
                    raise ModelLoadError(f"cannot load {path} ({_first_line(exc)})") from None
        self.inputs = [i.name for i in self.session.get_inputs()]

    def _full_tokenizer(self) -> Any:
        with self._tokenizer_lock:
            if self._tokenizer is None:
                from tokenizers import Tokenizer

                try:
                    tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
                except Exception as exc:
                    folder = self._tokenizer_path.parent
                    raise ModelLoadError(f"cannot load the tokenizer of {folder}: {exc}") from None
                tokenizer.no_padding()
                tokenizer.enable_truncation(self._max_length)
                self._tokenizer = tokenizer
            return self._tokenizer

    def token_ids(self, text: str) -> list[int]:
        """The model's input ids for `text`, as `tokenizers` makes them."""
        ids = self._quick.ids(text) if self._quick is not None else None
        return ids if ids is not None else self._full_tokenizer().encode(text).ids

    @property
    def dim(self) -> int:
        return self._dim

    def encode(self, texts: Sequence[str], kind: TextKind) -> np.ndarray:
        """Unit vectors, rows in input order, one text per call (see the module docstring)."""
        prefix = self.spec.prefix(kind)
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(prefix + text)
        return out

    def _vector(self, text: str) -> np.ndarray:
        ids = np.asarray([self.token_ids(text)], dtype=np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        hidden = self.session.run(None, {n: feed[n] for n in self.inputs})[0][0]
        vec = hidden.mean(axis=0) if self.pooling == "mean" else hidden[0]
        norm = float(np.linalg.norm(vec))
        return (vec / norm if norm > 0 else vec).astype(np.float32, copy=False)


def load_encoder(
    spec: ModelSpec,
    folder: Path,
    *,
    threads: int | None = None,
    throughput: bool = False,
    say: Callable[[str], None] | None = None,
) -> OnnxEncoder:
    """The runtime entry point (see ``index.models.spec.RUNTIME_MODULES``): exports the graph
    on first use, then opens it; `throughput` lets the worker threads spin."""
    folder = Path(folder)
    prepare(folder, spec, say=say)
    return OnnxEncoder(folder, spec, threads=threads, spin=throughput)


def prepare(folder: Path, spec: ModelSpec, *, say: Callable[[str], None] | None = None) -> Path:
    """Everything a query's start would otherwise pay for, done once (at `search model install`
    or the first load): the exported graph, its optimised copy with memory-mapped weights (else
    a plain memory-mapped copy), the query tokenizer."""
    from index.models.unigram import prepare as prepare_tokenizer

    graph = export_onnx(folder, quantized=spec.quantize, say=say)
    if optimize_graph(graph) is None:
        map_weights(graph)
    tokenizer = transformer_folder(folder) / "tokenizer.json"
    if tokenizer.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            prepare_tokenizer(tokenizer, graph.parent)
    return graph
