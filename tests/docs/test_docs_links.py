#!/usr/bin/env python3
"""test_docs_links.py: every relative link in README.md and docs/*.md points at a file of the
source tree and, with a #fragment into a Markdown page, at one of its headings (GitHub's anchor:
lower case, punctuation but '-' and '_' dropped, spaces to '-', "-1", "-2" for repeats). A link
followed by a quoted section name, `[api.md](api.md), "Job logs"`, must name a heading or a bold
paragraph lead (`**Job logs.**`) of that page. Renaming a heading or a page breaks these links
silently; this test says which. No Kafka, no build: it reads the Markdown only."""
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
    return " ".join(s.split())


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
            want = squash(section).rstrip(".")
            if not any(name == want or name.startswith(want) for name in names):
                bad.append(f'{rel}:{line}: ({target}), "{squash(section)}": no such section in '
                           f"{os.path.relpath(dest, SOURCE)}")
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
    # the check itself, on a page that is not written anywhere: a dead page, a dead anchor and a
    # dead section name are caught, a live anchor is not
    bad, _ = check(os.path.join(docs, "probe.md"),
                   '[a](no-such-page.md) [b](operations.md#no-such-heading) '
                   '[c](operations.md#barge-status) [d](api.md), "No such section"\n')
    ok(len(bad) == 3 and "no file" in bad[0] and "no heading" in bad[1] and "no such section" in bad[2],
       "the check catches a dead page, a dead anchor and a dead section name: " + "; ".join(bad))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
