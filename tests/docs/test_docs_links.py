#!/usr/bin/env python3
"""test_docs_links.py: every relative link in README.md and docs/*.md points at a file of the
source tree and, with a #fragment into a Markdown page, at one of its headings (GitHub's anchor:
lower case, punctuation but '-' and '_' dropped, spaces to '-', "-1", "-2" for repeats). A link
followed by a quoted section name, `[api.md](api.md), "Job logs"`, must name a heading or a bold
paragraph lead (`**Job logs.**`) of that page. The same holds for the citations in code comments
and docs, `docs/containers.md, "Limits"` or `docs/job-model.md §2.4`: the page must have that
section. And a path of the source tree the pages name in backquotes, `consumers/views/view.c`,
must exist (a program built from X.c, `bench/bench_sched`, counts as X.c). Renaming a heading, a
page or a file breaks these silently; this test says which. No Kafka, no build: it reads the text
only."""
import os
import re
import sys

SOURCE = os.environ.get("BARGE_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
passed = failed = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok: {what}")
    else:
        failed += 1
        print(f"FAIL: {what}")
    return cond


def prose(text):
    """The text outside fenced and indented code blocks, where links are links."""
    out, fence = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fence = not fence
            out.append("")
        elif fence or line.startswith("    ") and not line.lstrip().startswith(("-", "|", "[")):
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def slug(heading):
    s = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return s.replace(" ", "-")


def squash(s):
    """A section name as compared: spaces squashed, arrows as "->", a section number dropped."""
    s = " ".join(s.split()).replace("\u2192", "->")
    return re.sub(r"^[0-9]+(\.[0-9]+)*\.? ", "", s)


def has_section(names, section):
    want = squash(section).rstrip(".")
    return any(name == want or name.startswith(want) for name in names)


_pages = {}


def page(path):
    """(anchors, section names) of a Markdown page: its headings' anchors, and its headings and
    bold paragraph leads as plain text."""
    if path not in _pages:
        anchors, names, seen = set(), [], {}
        for line in prose(open(path).read()).split("\n"):
            m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
            if m:
                s = slug(m.group(1))
                n = seen.get(s, 0)
                seen[s] = n + 1
                anchors.add(s if n == 0 else f"{s}-{n}")
                names.append(squash(m.group(1)))
            m = re.match(r"\s*(?:- )?\*\*(.+?)\*\*", line)
            if m:
                names.append(squash(m.group(1)))
            anchors.update(re.findall(r'<a (?:name|id)="([^"]+)"', line))
        _pages[path] = (anchors, names)
    return _pages[path]


def check(path, text=None):
    """The broken links of one page (its text, or the file's), as strings."""
    rel = os.path.relpath(path, SOURCE)
    text = prose(open(path).read() if text is None else text)
    bad, n = [], 0
    for m in re.finditer(r"\]\(([^)\s]+)\)(?:,?\s+\"([^\"]+)\")?", text):
        target, section = m.group(1), m.group(2)
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        n += 1
        line = text.count("\n", 0, m.start()) + 1
        file, _, frag = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
        if not os.path.exists(dest):
            bad.append(f"{rel}:{line}: ({target}): no file {os.path.relpath(dest, SOURCE)}")
            continue
        if not dest.endswith(".md"):
            continue
        anchors, names = page(dest)
        if frag and frag not in anchors:
            bad.append(f"{rel}:{line}: ({target}): no heading #{frag} in {os.path.relpath(dest, SOURCE)}")
        if section and not frag:
            if not has_section(names, section):
                bad.append(f'{rel}:{line}: ({target}), "{squash(section)}": no such section in '
                           f"{os.path.relpath(dest, SOURCE)}")
    return bad, n


SOURCE_DIRS = ("agent", "bench", "client", "cmd", "consumers", "docs", "include", "lib", "producers",
               "provisioner", "scheduler", "schemas", "scripts", "tests", "tools")
SECTION = re.compile(r"docs/job-model\.md,? ?§ ?([0-9]+(?:\.[0-9]+)*)")
CITE = re.compile(r"docs/([a-z-]+)\.md(?:#[a-z0-9-]+)?\)?,? [\\]?[\"\u201c]([^\"\u201d\\]{2,100})[\\]?[\"\u201d]")


def numbered_sections():
    """The section numbers of docs/job-model.md's headings ("### 3.5 Blocking codes": 3.5)."""
    if "job-model" not in _pages:
        with open(os.path.join(SOURCE, "docs", "job-model.md")) as f:
            _pages["job-model"] = set(re.findall(r"^#+ ([0-9]+(?:\.[0-9]+)*)\.? ", f.read(), re.M))
    return _pages["job-model"]


def citations(path, text):
    """(the citations `docs/PAGE.md, "Section"` of a file that name no section of PAGE, how many)"""
    rel = os.path.relpath(path, SOURCE)
    # a citation may run over a line break of a comment (" * ", "# ", "// ") or a docstring
    flat = re.sub(r"[ \t]*\n[ \t]*(?:\*(?!\*)|#|//)?[ \t]*", " ", text)
    bad, n = [], 0
    for m in SECTION.finditer(flat):
        n += 1
        if m.group(1) not in numbered_sections():
            bad.append(f"{rel}: docs/job-model.md §{m.group(1)}: no such section")
    for m in CITE.finditer(flat):
        n += 1
        dest = os.path.join(SOURCE, "docs", m.group(1) + ".md")
        if not os.path.exists(dest):
            bad.append(f"{rel}: docs/{m.group(1)}.md: no such page")
        elif not has_section(page(dest)[1], m.group(2)):
            bad.append(f'{rel}: docs/{m.group(1)}.md, "{squash(m.group(2))}": no such section')
    return bad, n


def dead_paths(path):
    """The backquoted source paths (`lib/bus.c`, `tests/e2e/`) of a page that do not exist."""
    rel = os.path.relpath(path, SOURCE)
    with open(path) as f:
        text = f.read()
    bad, n = [], 0
    for m in re.finditer(r"`((?:%s)/[A-Za-z0-9_./-]*)`" % "|".join(SOURCE_DIRS), text):
        p = m.group(1)
        n += 1
        if not (os.path.exists(os.path.join(SOURCE, p)) or os.path.exists(os.path.join(SOURCE, p + ".c"))):
            bad.append(f"{rel}: `{p}`: no such file or folder")
    return bad, n


def main():
    docs = os.path.join(SOURCE, "docs")
    pages = [os.path.join(SOURCE, "README.md")] + sorted(
        os.path.join(docs, f) for f in os.listdir(docs) if f.endswith(".md"))
    total = 0
    for p in pages:
        bad, n = check(p)
        total += n
        ok(not bad, f"{os.path.relpath(p, SOURCE)}: {n} relative link(s) resolve" +
           "".join(f"\n    {b}" for b in bad))
    ok(total > 100, f"{total} relative links checked in all (the pages link to each other)")
    bad, paths = [], 0
    for p in pages:
        b, n = dead_paths(p)
        bad, paths = bad + b, paths + n
    ok(paths > 100 and not bad,
       f"the {paths} source paths the pages name exist" + "".join(f"\n    {b}" for b in bad))
    bad, files, cites = [], 0, 0
    for top in [os.path.join(SOURCE, "README.md")] + [os.path.join(SOURCE, d) for d in SOURCE_DIRS]:
        for dirpath, dirnames, names in os.walk(top) if os.path.isdir(top) else [("", [], [top])]:
            dirnames[:] = [d for d in dirnames if d != "corpus" and not d.startswith(".")]
            for name in names:
                if name.endswith((".c", ".h", ".py", ".sh", ".md", ".txt", ".js", ".html", ".avsc", ".json")):
                    f = os.path.join(dirpath, name)
                    with open(f, errors="replace") as fh:
                        b, n = citations(f, fh.read())
                    bad, cites = bad + b, cites + n
                    files += 1
    ok(cites > 100 and not bad,
       f"the {cites} citations of docs sections in {files} files name sections that exist" +
       "".join(f"\n    {b}" for b in bad))
    # the check itself, on a page that is not written anywhere: a dead page, a dead anchor and a
    # dead section name are caught, a live anchor is not
    bad, _ = check(os.path.join(docs, "probe.md"),
                   '[a](no-such-page.md) [b](operations.md#no-such-heading) '
                   '[c](operations.md#barge-status) [d](api.md), "No such section"\n')
    ok(len(bad) == 3 and "no file" in bad[0] and "no heading" in bad[1] and "no such section" in bad[2],
       "the check catches a dead page, a dead anchor and a dead section name: " + "; ".join(bad))
    bad, _ = citations(os.path.join(SOURCE, "probe.c"),
                       '/* see docs/api.md, "Job logs", and (docs/job-model.md,\n * "Multi-node parallel\n'
                       ' * jobs"), not docs/containers.md, "No such\n * section" (docs/job-model.md \u00a72.4,'
                       ' not docs/job-model.md \u00a799.1) */')
    ok(len(bad) == 2 and "\u00a799.1" in bad[0] and "No such section" in bad[1],
       "a citation over a comment's line break is read whole, a dead section number is caught: " + "; ".join(bad))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
