"""The repository stands on its own: no citation of documents that live outside it, and every
relative link in its Markdown resolves.

(a) No tracked file but this one names the design briefs that once sat beside the repository
    (their names are assembled below so that this file does not match itself either).
(b) Every relative link in README.md, BENCHMARKS.md and docs/**/*.md points at a file or
    directory that exists, and every `#anchor` into a Markdown file names one of its headings
    (GitHub's heading ids).

Needs only git and Python: no server, no build.
"""
import os
import re
import subprocess
import unittest
import urllib.parse

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
THIS_FILE = os.path.relpath(os.path.abspath(__file__), ROOT)

# Spelled in pieces so that this file does not cite them.
FORBIDDEN = ("PROTOCOL" + ".md", "PRODUCT" + ".md", "../" + "shared", "/work/" + "shared")

FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
# [text](target) and ![alt](target); the target may be <...> and may carry a "title".
INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]"  # the text, one level of brackets
                         r"\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
# [label]: target
REFERENCE_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def tracked_files():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True)
    return [p for p in out.stdout.decode("utf-8").split("\0") if p]


def prose_lines(text):
    """The lines of a Markdown text outside fenced code blocks, with inline code removed, as
    (line number, line) pairs."""
    fence = None
    for number, line in enumerate(text.splitlines(), start=1):
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)[0] * len(m.group(1))
            continue
        if fence is not None:
            if m and m.group(1).startswith(fence):
                fence = None
            continue
        yield number, INLINE_CODE.sub("", line)


def slug(heading_text):
    """GitHub's heading id: the rendered text lower-cased, punctuation other than `-` and `_`
    dropped, each space a hyphen."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading_text)  # links keep their text
    text = text.replace("`", "")
    text = re.sub(r"(\*\*|__|\*)(.+?)\1", r"\2", text)  # emphasis markers are not text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text):
    """Every heading id of a Markdown text, duplicates numbered as GitHub does (`x`, `x-1`)."""
    seen = {}
    ids = set()
    fence = None
    for line in text.splitlines():
        m = FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)[0] * len(m.group(1))
            continue
        if fence is not None:
            if m and m.group(1).startswith(fence):
                fence = None
            continue
        h = HEADING.match(line)
        if not h:
            continue
        base = slug(h.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        ids.add(base if n == 0 else f"{base}-{n}")
    return ids


def links(text):
    """(line number, target) of every inline link and reference definition in prose."""
    for number, line in prose_lines(text):
        for m in INLINE_LINK.finditer(line):
            yield number, m.group(1).strip("<>")
        m = REFERENCE_DEF.match(line)
        if m:
            yield number, m.group(1).strip("<>")


def broken_links(path, text, exists, heading_ids):
    """The relative links of `text` (the Markdown file at repository path `path`) that do not
    resolve. `exists(repo_path)` says whether a file or directory exists; `heading_ids(repo_path)`
    gives a Markdown file's heading ids. Returns (line, target, reason) triples."""
    problems = []
    for number, target in links(text):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # absolute URL: not this test's business
        file_part, _, fragment = target.partition("#")
        file_part = urllib.parse.unquote(file_part)
        if file_part == "":
            resolved = path
        elif file_part.startswith("/"):
            resolved = os.path.normpath(file_part.lstrip("/"))
        else:
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
        if resolved.startswith(".."):
            problems.append((number, target, "leaves the repository"))
            continue
        if not exists(resolved):
            problems.append((number, target, f"{resolved} does not exist"))
            continue
        if fragment and resolved.endswith(".md"):
            if urllib.parse.unquote(fragment).lower() not in heading_ids(resolved):
                problems.append((number, target, f"{resolved} has no heading #{fragment}"))
    return problems


def read(repo_path):
    with open(os.path.join(ROOT, repo_path), encoding="utf-8") as f:
        return f.read()


class CheckerSelfTest(unittest.TestCase):
    """The checker itself: it must see what it is meant to see, or (b) proves nothing."""

    def test_slugs_follow_github(self):
        self.assertEqual(slug("AWS CLI v2 `aws sso login` against Tessera"),
                         "aws-cli-v2-aws-sso-login-against-tessera")
        self.assertEqual(slug("Three ways in: the admin API, the bootstrap file, the CLI"),
                         "three-ways-in-the-admin-api-the-bootstrap-file-the-cli")
        self.assertEqual(slug("2.1 Error shapes [model]"), "21-error-shapes-model")
        self.assertEqual(slug("Wire facts (botocore `sso-oidc/2019-06-10/service-2.json`)"),
                         "wire-facts-botocore-sso-oidc2019-06-10service-2json")
        self.assertEqual(anchors("# A\n## A\n```\n# A\n```\n### A\n"), {"a", "a-1", "a-2"})

    def test_broken_links_are_reported(self):
        files = {"docs/x.md", "docs/design/y.md", "README.md", "docs"}
        text = "\n".join([
            "[ok](design/y.md) [ok](../README.md#top) [ok](#here) [ok](https://example.com/z)",
            "[missing](design/nope.md)",
            "[bad anchor](design/y.md#nowhere)",
            "[outside](../../elsewhere.md)",
            "`[in code](nope.md)`",
            "```",
            "[in a fence](nope.md)",
            "```",
            "[ref]: ../missing-too.md",
            "## Here",
        ])
        ids = {"README.md": {"top"}, "docs/design/y.md": {"there"}, "docs/x.md": anchors(text)}
        problems = broken_links("docs/x.md", text, files.__contains__, lambda p: ids.get(p, set()))
        self.assertEqual([(n, t) for n, t, _ in problems],
                         [(2, "design/nope.md"), (3, "design/y.md#nowhere"),
                          (4, "../../elsewhere.md"), (9, "../missing-too.md")])


class RepositoryStandsAloneTest(unittest.TestCase):
    def test_the_protocol_reference_is_tracked(self):
        # The reference the citations point at; `git add` a new page before running this.
        self.assertTrue("docs/protocol.md" in tracked_files(), "docs/protocol.md is not tracked")

    def test_no_citation_of_documents_outside_the_repository(self):
        offenders = []
        for path in tracked_files():
            if path == THIS_FILE or not os.path.isfile(os.path.join(ROOT, path)):
                continue
            try:
                text = read(path)
            except UnicodeDecodeError:
                continue  # binary
            for number, line in enumerate(text.splitlines(), start=1):
                for name in FORBIDDEN:
                    if name in line:
                        offenders.append(f"{path}:{number}: {name}")
        self.assertEqual(offenders, [],
                         "cite docs/protocol.md, README.md or BENCHMARKS.md instead:\n" +
                         "\n".join(offenders))

    def test_relative_markdown_links_resolve(self):
        files = tracked_files()
        tracked = set(files)
        for f in files:  # directories holding tracked files exist too
            d = os.path.dirname(f)
            while d:
                tracked.add(d)
                d = os.path.dirname(d)
        pages = [p for p in files
                 if p in ("README.md", "BENCHMARKS.md") or
                 (p.startswith("docs/") and p.endswith(".md"))]
        cache = {}

        def heading_ids(p):
            if p not in cache:
                cache[p] = anchors(read(p))
            return cache[p]

        checked = 0
        problems = []
        for page in pages:
            text = read(page)
            checked += sum(1 for _ in links(text))
            problems += [f"{page}:{n}: ({t}) {why}"
                         for n, t, why in broken_links(page, text, tracked.__contains__,
                                                       heading_ids)]
        self.assertGreater(checked, 10)  # the pages do link to each other
        self.assertEqual(problems, [], "\n".join(problems))


if __name__ == "__main__":
    unittest.main()
