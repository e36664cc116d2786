// The search page: plain DOM, no build step. Post data is only ever set as text
// (textContent, DOM nodes for highlights); the one exception is the post body, which the server
// renders and sanitises, and which passes through the "post-html" Trusted Types policy.
"use strict";

const DEBOUNCE_MS = 150; // a keystroke every ~150 ms when typing: search when the typist pauses
const PAGE = 20;
const RETRY_LOADING_MS = 2000; // how soon to ask again while the model loads

const $ = (id) => document.getElementById(id);
const el = {
  form: $("search-form"), q: $("q"), mode: $("mode"), category: $("category"), tag: $("tag"),
  tags: $("tag-list"), since: $("since"), until: $("until"), byDate: $("by-date"),
  status: $("status"), results: $("results"), more: $("more"),
  reader: $("reader"), back: $("back"), original: $("original"), title: $("post-title"),
  meta: $("post-meta"), body: $("post-body"), related: $("related"),
  series: $("series"), links: $("links"), cites: $("cites"), citedBy: $("cited-by"),
  citesTitle: $("cites-title"), citedByTitle: $("cited-by-title"),
  auth: $("auth"), authForm: $("auth-form"), token: $("token"),
};

const policy = window.trustedTypes
  ? window.trustedTypes.createPolicy("post-html", { createHTML: (html) => html })
  : { createHTML: (html) => html };

/** Wide screens show the reader beside the results (style.css has the same breakpoint). */
const wide = () => window.matchMedia("(min-width: 70rem)").matches;

const state = {
  hits: [], total: 0, selected: -1, seq: 0, controller: null, timer: 0, retry: 0,
  post: null, // the post the reader shows (or is fetching): answers for others are dropped
};

// -- talking to the server ------------------------------------------------------------------
/** `url` as an absolute http(s) address, or null. */
function webAddress(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.href : null;
  } catch {
    return null;
  }
}

async function api(path, options = {}) {
  const token = sessionStorage.getItem("kexue-token");
  const headers = token ? { Authorization: `Bearer ${token}` } : {};
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    el.auth.showModal();
    throw new Error("a token is required");
  }
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function params() {
  const p = new URLSearchParams();
  if (el.q.value.trim()) p.set("q", el.q.value);
  if (el.mode.value !== "hybrid") p.set("mode", el.mode.value);
  if (el.category.value) p.set("category", el.category.value);
  if (el.tag.value.trim()) p.set("tag", el.tag.value.trim());
  if (el.since.value) p.set("since", el.since.value);
  if (el.until.value) p.set("until", el.until.value);
  if (el.byDate.checked) p.set("sort", "date");
  return p;
}

// -- drawing --------------------------------------------------------------------------------
function metaLine(hit) {
  return [hit.date, hit.category, (hit.tags || []).slice(0, 4).join(", ")].filter(Boolean).join(" · ");
}

/** The snippet with its highlight spans as <mark> nodes and its short formulas as MathML (the
 * server's, sanitised); the formulas' text stays where a formula has none. Offsets count code
 * points. */
function snippetNode(snippet) {
  const p = document.createElement("p");
  p.className = "snippet";
  const chars = Array.from(snippet.text || "");
  const marks = (snippet.highlights || []).slice().sort((a, b) => a[0] - b[0]);
  const text = (from, to) => {
    let at = from;
    for (const [start, end] of marks) {
      if (end <= at || start >= to) continue;
      const a = Math.max(start, at);
      const b = Math.min(end, to);
      p.append(chars.slice(at, a).join(""));
      const mark = document.createElement("mark");
      mark.textContent = chars.slice(a, b).join("");
      p.append(mark);
      at = b;
    }
    p.append(chars.slice(at, to).join(""));
  };
  let at = 0;
  for (const [start, end, mathml] of (snippet.math || []).slice().sort((a, b) => a[0] - b[0])) {
    if (start < at || end <= start) continue;
    text(at, start);
    const span = document.createElement("span");
    span.className = "math";
    span.innerHTML = policy.createHTML(mathml);
    if (!span.querySelector("math")) span.textContent = chars.slice(start, end).join("");
    p.append(span);
    at = end;
  }
  text(at, chars.length);
  return p;
}

function hitNode(hit, index) {
  const li = document.createElement("li");
  li.id = `hit-${index}`;
  li.setAttribute("role", "option");
  li.setAttribute("aria-selected", "false");
  const a = document.createElement("a");
  a.className = "title";
  a.href = `?post=${encodeURIComponent(hit.post_id)}`;
  a.textContent = hit.title;
  a.tabIndex = -1;
  a.addEventListener("click", (event) => {
    event.preventDefault();
    select(index);
    openPost(hit.post_id);
  });
  const meta = document.createElement("p");
  meta.className = "meta";
  meta.textContent = metaLine(hit);
  li.append(a, meta, snippetNode(hit.snippet || {}));
  li.addEventListener("mousemove", () => select(index, false));
  return li;
}

function setStatus(text, isError = false) {
  el.status.textContent = text;
  el.status.classList.toggle("error", isError);
}

function describe(result) {
  const shown = state.hits.length;
  const parts = [shown ? `${shown} of ${result.total} posts` : "No posts found"];
  parts.push(result.mode, `${Math.round(result.took_ms)} ms`);
  let text = parts.join(" · ");
  if (!shown && result.unknown && result.unknown.length) {
    text += ` — no post contains ${result.unknown.join(", ")}`;
  }
  if (result.warnings && result.warnings.length) text += ` — ${result.warnings.join("; ")}`;
  return text;
}

function select(index, scroll = true) {
  const items = el.results.children;
  if (state.selected >= 0 && items[state.selected]) {
    items[state.selected].setAttribute("aria-selected", "false");
  }
  state.selected = Math.max(-1, Math.min(index, items.length - 1));
  if (state.selected >= 0) {
    const item = items[state.selected];
    item.setAttribute("aria-selected", "true");
    el.q.setAttribute("aria-activedescendant", item.id);
    if (scroll) item.scrollIntoView({ block: "nearest" });
  } else {
    el.q.removeAttribute("aria-activedescendant");
  }
}

// -- searching ------------------------------------------------------------------------------
function clearResults() {
  state.hits = [];
  el.results.replaceChildren();
  el.q.setAttribute("aria-expanded", "false");
  el.more.hidden = true;
}

// From 2024 / To 2022 finds nothing: say so (and mark both) instead of asking.
function reversedYears() {
  const reversed = Boolean(el.since.value && el.until.value && el.since.value > el.until.value);
  for (const box of [el.since, el.until]) box.setAttribute("aria-invalid", String(reversed));
  if (!reversed) return false;
  if (state.controller) state.controller.abort();
  state.seq++; // an answer still on its way is for other years
  clearResults();
  setStatus(`The years are reversed: From ${el.since.value} is after To ${el.until.value}.`, true);
  return true;
}

async function runSearch({ append = false } = {}) {
  clearTimeout(state.retry);
  const p = params();
  history.replaceState(history.state, "", p.toString() ? `?${p}` : location.pathname);
  if (reversedYears()) return;
  if (!p.has("q") && !p.has("category") && !p.has("tag") && !p.has("since") && !p.has("until")) {
    state.hits = [];
    el.results.replaceChildren();
    el.q.setAttribute("aria-expanded", "false");
    el.more.hidden = true;
    setStatus("");
    return;
  }
  if (state.controller) state.controller.abort();
  state.controller = new AbortController();
  const seq = ++state.seq;
  p.set("limit", PAGE);
  p.set("offset", append ? state.hits.length : 0);
  let result;
  try {
    result = await api(`/search?${p}`, { signal: state.controller.signal });
  } catch (error) {
    if (error.name !== "AbortError" && seq === state.seq) setStatus(error.message, true);
    return;
  }
  if (seq !== state.seq) return; // an older answer arriving late
  if (!append) {
    state.hits = [];
    el.results.replaceChildren();
    select(-1);
  }
  const start = state.hits.length;
  state.hits.push(...result.hits);
  el.results.append(...result.hits.map((hit, i) => hitNode(hit, start + i)));
  state.total = result.total;
  el.q.setAttribute("aria-expanded", String(state.hits.length > 0));
  el.more.hidden = state.hits.length >= result.total || result.hits.length === 0;
  setStatus(describe(result));
  const loading = (result.warnings || []).some((w) => w.includes("still loading"));
  if (loading && !append) state.retry = setTimeout(() => runSearch(), RETRY_LOADING_MS);
}

function scheduleSearch() {
  clearTimeout(state.timer);
  state.timer = setTimeout(() => runSearch(), DEBOUNCE_MS);
}

// -- reading --------------------------------------------------------------------------------
async function openPost(id, { push = true, focus = true } = {}) {
  state.post = String(id);
  let post;
  try {
    post = await api(`/posts/${encodeURIComponent(id)}?format=html`);
  } catch (error) {
    setStatus(error.message, true);
    return;
  }
  if (state.post !== String(id)) return; // another post was asked for meanwhile
  el.title.textContent = post.title;
  el.meta.textContent = metaLine(post);
  // Post data: only a web address becomes the link (never javascript:, data: or file:).
  const original = webAddress(post.url);
  if (original) el.original.href = original;
  else el.original.removeAttribute("href");
  el.original.hidden = !original;
  el.body.innerHTML = policy.createHTML(post.html);
  for (const a of el.body.querySelectorAll("a[href]")) {
    if (!a.getAttribute("href").startsWith("#")) a.target = "_blank";
  }
  el.related.replaceChildren();
  el.series.hidden = true;
  el.links.hidden = true;
  el.reader.hidden = false;
  document.body.classList.add("reading");
  el.reader.scrollTop = 0;
  if (!wide()) window.scrollTo(0, 0);
  if (focus) el.reader.focus({ preventScroll: true });
  if (push) {
    const p = params();
    p.set("post", id);
    history.pushState({ post: id }, "", `?${p}`);
  }
  loadRelated(id);
  loadLinks(id);
}

/** A link that opens post `id` in the reader (a history entry, so Back comes back). */
function postLink(id, text) {
  const a = document.createElement("a");
  a.href = `?post=${encodeURIComponent(id)}`;
  a.textContent = text;
  a.addEventListener("click", (event) => {
    event.preventDefault();
    openPost(id);
  });
  return a;
}

function linkItem(entry) {
  const li = document.createElement("li");
  if (entry.in_archive) {
    li.append(postLink(entry.post_id, entry.title));
  } else {
    const a = document.createElement("a");
    a.href = entry.url;
    a.rel = "noopener noreferrer";
    a.target = "_blank";
    a.textContent = `${entry.url} (not in this archive)`;
    li.append(a);
  }
  const meta = document.createElement("span");
  meta.className = "meta";
  meta.textContent = ` ${entry.date || ""}`;
  const sentence = document.createElement("span");
  sentence.className = "sentence";
  sentence.textContent = entry.sentence;
  li.append(meta, sentence);
  return li;
}

/** The post's series (previous / next part) and what it cites and what cites it. */
async function loadLinks(id) {
  let found;
  try {
    found = await api(`/posts/${encodeURIComponent(id)}/links`);
  } catch {
    return; // like related posts: a bonus, the post itself is shown
  }
  if (state.post !== String(id)) return;
  const place = found.series;
  el.series.hidden = !place;
  if (place) {
    const name = document.createElement("span");
    name.className = "series-name";
    name.textContent = `${place.name} (${place.index}/${place.size})`;
    const parts = [name];
    if (place.previous) parts.push(postLink(place.previous.post_id, `← ${place.previous.title}`));
    if (place.next) parts.push(postLink(place.next.post_id, `→ ${place.next.title}`));
    if (place.previous) parts[1].rel = "prev";
    if (place.next) parts[parts.length - 1].rel = "next";
    el.series.replaceChildren(...parts);
  }
  el.citesTitle.textContent = `Cites (${found.cites.length})`;
  el.citedByTitle.textContent = `Cited by (${found.cited_by.length})`;
  el.cites.replaceChildren(...found.cites.map(linkItem));
  el.citedBy.replaceChildren(...found.cited_by.map(linkItem));
  el.links.hidden = !(found.cites.length || found.cited_by.length);
}

async function loadRelated(id) {
  let result;
  try {
    result = await api(`/posts/${encodeURIComponent(id)}/similar?limit=5`);
  } catch {
    return; // related posts are a bonus: the post itself is shown
  }
  if (state.post !== String(id)) return;
  el.related.replaceChildren(...result.hits.map((hit) => {
    const li = document.createElement("li");
    const a = document.createElement("a");
    a.href = `?post=${encodeURIComponent(hit.post_id)}`;
    a.textContent = hit.title;
    a.addEventListener("click", (event) => {
      event.preventDefault();
      openPost(hit.post_id);
    });
    const meta = document.createElement("span");
    meta.className = "meta";
    meta.textContent = ` ${hit.date || ""}`;
    li.append(a, meta);
    return li;
  }));
}

function closePost() {
  state.post = null;
  el.reader.hidden = true;
  document.body.classList.remove("reading");
  const item = el.results.children[state.selected];
  if (item) item.scrollIntoView({ block: "nearest" });
  el.q.focus();
}

function back() {
  if (history.state && history.state.post) history.back();
  else closePost();
}

// -- keys -----------------------------------------------------------------------------------
function typing(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLSelectElement
    || target instanceof HTMLTextAreaElement;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const reading = !el.reader.hidden;
  if (event.key === "Escape") {
    if (reading) {
      event.preventDefault();
      back();
    } else if (state.selected >= 0) {
      select(-1);
    }
    return;
  }
  if (event.key === "/" && !typing(event.target)) {
    event.preventDefault();
    if (reading && !wide()) closePost();
    el.q.focus();
    el.q.select();
    return;
  }
  const inBox = event.target === el.q || (!typing(event.target) && !reading);
  if (!inBox || !state.hits.length || (reading && !wide())) return;
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    select(state.selected + (event.key === "ArrowDown" ? 1 : -1));
    const hit = state.hits[state.selected];
    if (reading && hit) openPost(hit.post_id, { push: false, focus: false }); // a preview
  } else if (event.key === "Enter") {
    event.preventDefault();
    const hit = state.hits[Math.max(state.selected, 0)];
    if (state.selected < 0) select(0);
    openPost(hit.post_id);
  }
});

// -- start ----------------------------------------------------------------------------------
function fill(select, values) {
  for (const value of values) {
    const option = document.createElement("option");
    option.value = value.value ?? value;
    option.textContent = value.label ?? value;
    select.append(option);
  }
}

async function loadFilters() {
  try {
    const [categories, tags, stats] = await Promise.all([
      api("/categories"), api("/tags"), api("/stats"),
    ]);
    fill(el.category, categories.categories.map((c) => ({ value: c.value, label: `${c.value} (${c.count})` })));
    fill(el.tags, tags.tags.map((t) => ({ value: t.value, label: `${t.count} posts` })));
    const first = parseInt((stats.first_post || "").slice(0, 4), 10);
    const last = parseInt((stats.last_post || "").slice(0, 4), 10);
    if (first && last) {
      const years = [];
      for (let y = last; y >= first; y--) years.push(String(y));
      fill(el.since, years);
      fill(el.until, years);
    }
  } catch (error) {
    setStatus(error.message, true);
  }
}

function restore() {
  const p = new URLSearchParams(location.search);
  el.q.value = p.get("q") || "";
  el.mode.value = p.get("mode") || "hybrid";
  el.category.value = p.get("category") || "";
  el.tag.value = p.get("tag") || "";
  el.since.value = p.get("since") || "";
  el.until.value = p.get("until") || "";
  el.byDate.checked = p.get("sort") === "date";
  return p.get("post");
}

el.form.addEventListener("submit", (event) => {
  event.preventDefault();
  runSearch();
});
el.q.addEventListener("input", () => {
  if (!el.reader.hidden && !wide()) closePost(); // the results are what the typist wants
  scheduleSearch();
});
el.tag.addEventListener("input", scheduleSearch);
for (const control of [el.mode, el.category, el.since, el.until, el.byDate]) {
  control.addEventListener("change", () => runSearch());
}
el.more.addEventListener("click", () => runSearch({ append: true }));
el.back.addEventListener("click", back);
el.authForm.addEventListener("submit", () => {
  sessionStorage.setItem("kexue-token", el.token.value);
  el.token.value = "";
  loadFilters().then(() => runSearch());
});
window.addEventListener("popstate", () => {
  const post = new URLSearchParams(location.search).get("post");
  if (post) openPost(post, { push: false });
  else closePost();
});
// The reader pane sits under the sticky header: keep its offset in step with the header.
new ResizeObserver(() => {
  const height = document.querySelector("header").offsetHeight;
  document.documentElement.style.setProperty("--header-h", `${height}px`);
}).observe(document.querySelector("header"));

(async () => {
  await loadFilters();
  const post = restore();
  await runSearch();
  if (post) openPost(post, { push: false });
  else el.q.focus();
})();
