#!/usr/bin/env python3
"""Build the selattn training corpus from English text shipped in Debian packages.

Run tools/train/build_corpus.sh first (it apt-installs the packages), then:

    python3 tools/train/build_corpus.py [--out tools/train/runs/corpus]

Writes into --out:
    train.txt           training documents joined by <|endoftext|>
    sources.tsv         per source: package, licence, documents, bytes (train / held out)
and, unless --no-heldout, the committed held-out texts
    models/data/validation.txt, models/data/calibration.txt
(documents that are not in train.txt, also joined by <|endoftext|>).

Every step is deterministic: the same packages give byte-identical files.
Markup (HTML, reST, POD, roff-free text, dictd) is stripped, whitespace
normalised, documents and repeated paragraphs de-duplicated.
"""
import argparse
import glob
import gzip
import hashlib
import html
import html.parser
import os
import re
import subprocess
import sys
import unicodedata

EOT = "<|endoftext|>"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name -> (Debian package, licence as stated in the package's copyright file)
SOURCES = {
    "kjv": ("bible-kjv-text (+ bible-kjv to read it)", "public domain (King James Version)"),
    "fortunes": ("fortunes, fortunes-min, fortunes-bofh-excuses", "BSD-3-Clause (fortune-mod); quotations in the public domain or fair use per debian/copyright"),
    "gcide": ("dict-gcide", "GPL-3+ (GNU Collaborative International Dictionary of English, from Webster 1913, public domain)"),
    "wordnet": ("wordnet-base", "WordNet 3.0 licence (BSD-like)"),
    "foldoc": ("dict-foldoc", "GFDL-1.1+ (Free On-line Dictionary of Computing)"),
    "devil": ("dict-devil", "public domain (Ambrose Bierce, The Devil's Dictionary, 1911)"),
    "jargon": ("jargon-text", "public domain (The Jargon File 4.4.7)"),
    "handbook": ("debian-handbook", "GPL-2+ or CC-BY-SA-3.0"),
    "debian_docs": ("debian-reference-en, debian-faq, maint-guide", "GPL-2+ / GPL-2+ / GPL-2+ or MIT"),
    "gnu_standards": ("gnu-standards", "GFDL-1.3+ (no invariant sections)"),
    "python_docs": ("python3.11-doc", "PSF-2.0 (Python documentation)"),
    "perl_docs": ("perl-doc", "GPL-1+ or Artistic"),
    "linux_docs": ("linux-doc-6.1", "GPL-2"),
    "postgres_docs": ("postgresql-doc-15", "PostgreSQL licence (BSD-like)"),
    "git_docs": ("git-doc", "GPL-2"),
}

# What `apt-get install` needs per source, where it is more than the package named above.
APT = {"kjv": "bible-kjv bible-kjv-text", "fortunes": "fortunes fortunes-min fortunes-bofh-excuses",
       "debian_docs": "debian-reference-en debian-faq maint-guide"}

# Caps in bytes per source after cleaning (dictionaries would otherwise swamp the prose).
CAPS = {"gcide": 12_000_000, "wordnet": 4_000_000, "foldoc": 2_500_000}


# ---------------------------------------------------------------- cleaning helpers

def normalise(text):
    """NFC, no control characters, no trailing spaces, at most one blank line."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    text = "".join(ch for ch in text if ch == "\n" or unicodedata.category(ch)[0] != "C")
    text = text.replace(EOT, "")
    lines = [re.sub(r"(?<=\S) {2,}", " ", ln.rstrip()) for ln in text.split("\n")]
    text = "\n".join(lines)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def unwrap_simple(text):
    """Join the lines of every paragraph whose lines are not indented code."""
    paras = []
    for para in re.split(r"\n\s*\n", text):
        lines = para.split("\n")
        if len(lines) > 1 and not any(ln.startswith("  ") for ln in lines[1:]) \
                and not any(re.match(r"^\s*([-*+•]|\d+[.)]) ", ln) for ln in lines[1:]):
            para = " ".join(ln.strip() for ln in lines)
        paras.append(para)
    return "\n\n".join(paras)


class HtmlText(html.parser.HTMLParser):
    """Visible text of an HTML page: no script/style/pre/code blocks, newlines at block tags."""
    BLOCK = {"p", "div", "br", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table",
             "dt", "dd", "section", "blockquote", "title", "ul", "ol", "dl"}
    SKIP = {"script", "style", "pre", "head", "nav", "footer"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skip += 1
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))

    def text(self):
        t = "".join(self.parts)
        t = "\n".join(ln.strip() for ln in t.split("\n"))
        return t


def html_to_text(raw):
    p = HtmlText()
    p.feed(raw)
    p.close()
    return p.text()


def read(path):
    opener = gzip.open if path.endswith(".gz") or path.endswith(".dz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


RST_ROLE = re.compile(r":[a-zA-Z:+-]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")


def rst_to_text(src):
    """Drop reST directives, literal blocks and tables; keep prose and headings."""
    out, lines, i = [], src.split("\n"), 0
    literal_indent = None
    while i < len(lines):
        ln = lines[i]
        s = ln.strip()
        ind = len(ln) - len(ln.lstrip())
        if literal_indent is not None:
            if s == "" or ind > literal_indent:
                i += 1
                continue
            literal_indent = None
        if s.startswith(".. "):            # directive, comment, target: skip with its body
            literal_indent = ind
            i += 1
            continue
        if re.fullmatch(r"[=\-~^\"'`#*+_:.]{3,}", s):   # heading underline / rule
            i += 1
            continue
        if re.match(r"^[+|]", s) and (s.endswith("+") or s.endswith("|")):  # grid table
            i += 1
            continue
        if s.startswith(">>> ") or s.startswith("$ ") or s.startswith("# "):
            i += 1
            continue
        if s.endswith("::"):
            ln = ln.rstrip()[:-1] if not s == "::" else ""
            literal_indent = ind
        ln = RST_ROLE.sub(r"\1", ln)
        ln = re.sub(r"``([^`]*)``", r"\1", ln)
        ln = re.sub(r"`([^`<]*?)\s*<[^>]*>`_+", r"\1", ln)
        ln = re.sub(r"`([^`]*)`_*", r"\1", ln)
        ln = re.sub(r"\*\*([^*]+)\*\*", r"\1", ln)
        ln = re.sub(r"(?<!\w)\*([^*\s][^*]*)\*(?!\w)", r"\1", ln)
        ln = re.sub(r"\|([\w-]+)\|", r"\1", ln)
        out.append(ln)
        i += 1
    return "\n".join(out)


def pod_to_text(src):
    """POD: keep =head text and ordinary paragraphs; drop verbatim (indented) ones."""
    out, in_pod = [], True
    for para in re.split(r"\n\s*\n", src):
        if para.startswith("=cut"):
            in_pod = False
            continue
        if para.startswith("=pod") or para.startswith("=head") or para.startswith("=item"):
            in_pod = True
        if not in_pod:
            continue
        if para.startswith("="):
            m = re.match(r"=(head\d|item)\s+(.*)", para, re.S)
            if not m:
                continue
            para = m.group(2).strip()
            if para in ("*", ""):
                continue
        elif para[:1] in (" ", "\t"):
            continue
        for _ in range(3):
            para = re.sub(r"[A-Z]<<+\s+(.*?)\s+>>+", r"\1", para, flags=re.S)
            para = re.sub(r"L<([^|>]*)\|[^>]*>", r"\1", para)
            para = re.sub(r"[A-Z]<([^<>]*)>", r"\1", para)
        out.append(para)
    return "\n\n".join(out)


def info_to_text(src):
    """GNU info: drop node headers, menus and the tag table."""
    src = src.split("\x1fTag Table:")[0]
    out = []
    for node in src.split("\x1f"):
        lines = [ln for ln in node.split("\n") if not ln.startswith("File: ")]
        text = "\n".join(lines)
        text = re.sub(r"\* Menu:.*?(?=\n\n[^*\n])", "", text, flags=re.S)
        text = re.sub(r"^\s*\*\s.*::.*$", "", text, flags=re.M)
        text = re.sub(r"\*[Nn]ote\s+([^:]*)::", r"\1", text)
        out.append(text)
    return "\n\n".join(out)


# ---------------------------------------------------------------- extractors
# each yields (doc_id, text); doc_id is stable and unique within the source.

def chunk(items, size, prefix):
    """Group small items (fortunes, dictionary entries) into documents of ~size bytes."""
    buf, n, k = [], 0, 0
    for it in items:
        buf.append(it)
        n += len(it) + 2
        if n >= size:
            yield f"{prefix}#{k}", "\n\n".join(buf)
            buf, n, k = [], 0, k + 1
    if buf:
        yield f"{prefix}#{k}", "\n\n".join(buf)


def src_kjv():
    out = subprocess.run(["bible", "-l80", "Gen1:1-Rev22:21"], capture_output=True, check=True).stdout
    text = out.decode("utf-8", "replace")
    book, chapters = None, []
    cur = None
    for ln in text.split("\n"):
        m = re.fullmatch(r"(\S.*?) (\d+)", ln)
        if m and not ln.startswith(" "):
            if m.group(1) != book and book is not None:
                yield book, "\n\n".join(c[0] + "\n\n" + " ".join(c[1:]) for c in chapters)
                chapters = []
            book = m.group(1)
            cur = [ln]
            chapters.append(cur)
            continue
        s = ln.strip()
        if not s or cur is None:
            continue
        mv = re.match(r"^\d+ (.*)", s)
        if mv and ln.startswith("  "):
            cur.append(mv.group(1))
        else:
            cur[-1] += " " + s
    if book:
        yield book, "\n\n".join(c[0] + "\n\n" + " ".join(c[1:]) for c in chapters)


def src_fortunes():
    base = "/usr/share/games/fortunes"
    for path in sorted(glob.glob(base + "/*")):
        name = os.path.basename(path)
        if "." in name or not os.path.isfile(path) or name in ("ascii-art", "art"):
            continue
        items = [normalise(x) for x in re.split(r"\n%\n", read(path))]
        items = [x for x in items if len(x) > 20]
        yield from chunk(items, 16_000, "fortunes/" + name)


def _dictd(name):
    data = gzip.open(f"/usr/share/dictd/{name}.dict.dz").read()
    b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    def num(s):
        v = 0
        for ch in s:
            v = v * 64 + b64.index(ch)
        return v
    seen = set()
    with open(f"/usr/share/dictd/{name}.index", encoding="utf-8", errors="replace") as f:
        for ln in f:
            parts = ln.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith("00-database"):
                continue
            off, size = num(parts[1]), num(parts[2])
            if (off, size) in seen:
                continue
            seen.add((off, size))
            yield off, data[off:off + size].decode("utf-8", "replace")


def src_gcide():
    entries = []
    for _, e in sorted(_dictd("gcide")):
        e = re.sub(r"\s*\[(1913 Webster|WordNet 1\.5|PJC|Century Dict\.|Webster 1913 Suppl\.|RN|MW10|AS|NRCD)[^\]]*\]", "", e)
        e = re.sub(r"\\[^\\\n]*\\", "", e)   # pronunciation \A*buse"\
        e = normalise(e)
        e = unwrap_simple(e)
        if len(e) > 60:
            entries.append(e)
    yield from chunk(entries, 20_000, "gcide")


def src_foldoc():
    entries = [unwrap_simple(normalise(e)) for _, e in sorted(_dictd("foldoc"))]
    yield from chunk([e for e in entries if len(e) > 80], 20_000, "foldoc")


def src_devil():
    entries = [unwrap_simple(normalise(e)) for _, e in sorted(_dictd("devil"))]
    yield from chunk([e for e in entries if len(e) > 40], 20_000, "devil")


def src_wordnet():
    items = []
    for pos in ("noun", "verb", "adj", "adv"):
        with open(f"/usr/share/wordnet/data.{pos}", encoding="utf-8", errors="replace") as f:
            for ln in f:
                if ln.startswith("  ") or "|" not in ln:
                    continue
                head, gloss = ln.split("|", 1)
                f_ = head.split()
                n = int(f_[3], 16)
                words = [f_[4 + 2 * k].replace("_", " ") for k in range(n)]
                words = [re.sub(r"\(.*\)$", "", w) for w in words]
                items.append(f"{', '.join(words)}: {gloss.strip()}")
    yield from chunk(items, 20_000, "wordnet")


def src_jargon():
    text = read("/usr/share/doc/jargon-text/jargon.txt.gz")
    # box-drawing tables are dropped; the lexicon is cut into ~20 KB documents at paragraphs
    text = "\n".join(ln for ln in text.split("\n") if not re.search(r"[─│┌┐└┘├┤┬┴┼]", ln))
    paras = [p for p in unwrap_simple(normalise(text)).split("\n\n") if p.strip()]
    yield from chunk(paras, 20_000, "jargon")


def _html_docs(pattern, prefix):
    for path in sorted(glob.glob(pattern, recursive=True)):
        yield prefix + os.path.relpath(path, os.path.dirname(pattern.split("*")[0])), \
            unwrap_simple(normalise(html_to_text(read(path))))


def src_handbook():
    yield from _html_docs("/usr/share/doc/debian-handbook/html/en-US/*.html", "handbook/")


def src_debian_docs():
    for path in ("/usr/share/debian-reference/debian-reference.en.txt.gz",
                 "/usr/share/doc/maint-guide/maint-guide.en.txt.gz"):
        if os.path.exists(path):
            text = normalise(read(path))
            for k, part in enumerate(re.split(r"\n(?=Chapter \d+\.)", text)):
                yield f"{os.path.basename(path)}#{k}", unwrap_simple(part)
    yield from _html_docs("/usr/share/doc/debian/FAQ/*.en.html", "debian-faq/")


def src_gnu_standards():
    for path in sorted(glob.glob("/usr/share/info/standards.info*") + glob.glob("/usr/share/info/maintain.info*")):
        yield os.path.basename(path), unwrap_simple(normalise(info_to_text(read(path))))


def src_python_docs():
    for path in sorted(glob.glob("/usr/share/doc/python3.11/html/_sources/**/*.txt", recursive=True)):
        rel = os.path.relpath(path, "/usr/share/doc/python3.11/html/_sources")
        if rel.startswith("whatsnew/changelog"):
            continue
        yield "python/" + rel, unwrap_simple(normalise(rst_to_text(read(path))))


def src_perl_docs():
    for path in sorted(glob.glob("/usr/share/perl/5.36.0/pod/*.pod")):
        name = os.path.basename(path)
        if name.startswith("perl5") and "delta" in name:
            continue
        yield "perl/" + name, unwrap_simple(normalise(pod_to_text(read(path))))


def src_linux_docs():
    base = "/usr/share/doc/linux-doc-6.1/Documentation"
    for path in sorted(glob.glob(base + "/**/*.rst.gz", recursive=True) + glob.glob(base + "/**/*.txt.gz", recursive=True)):
        rel = os.path.relpath(path, base)
        if rel.startswith(("translations/", "ABI/", "devicetree/", "output/")):
            continue
        yield "linux/" + rel, unwrap_simple(normalise(rst_to_text(read(path))))


def src_postgres_docs():
    yield from _html_docs("/usr/share/doc/postgresql-doc-15/html/*.html", "postgres/")


def src_git_docs():
    for path in sorted(glob.glob("/usr/share/doc/git-doc/*.txt")):
        text = read(path)
        text = re.sub(r"(?ms)^(-{4,}|\.{4,})\n.*?^\1\n", "", text)   # asciidoc listing blocks
        text = re.sub(r"(?m)^[=\-~^+]{3,}$", "", text)
        text = re.sub(r"(?m)^(\[.*\]|:[\w-]+:.*|include::.*|ifdef::.*|endif::.*)$", "", text)
        text = re.sub(r"linkgit:([\w-]+)\[(\d)\]", r"\1(\2)", text)
        text = re.sub(r"`([^`]*)`", r"\1", text)
        yield "git/" + os.path.basename(path), unwrap_simple(normalise(text))


EXTRACTORS = {name: globals()["src_" + name] for name in SOURCES}


BOILERPLATE = {"prev", "next", "home", "up", "download the ebook", "table of contents", "contents"}


def is_prose(par):
    """Reject paragraphs that are mostly symbols (tables, code, ASCII art) and page navigation."""
    if not par or par.strip().lower() in BOILERPLATE:
        return False
    letters = sum(ch.isalpha() or ch == " " for ch in par)
    return letters / len(par) > 0.72


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tools/train/runs/corpus"))
    ap.add_argument("--heldout-dir", default=os.path.join(REPO, "models/data"))
    ap.add_argument("--heldout-bytes", type=int, default=300_000, help="target size of each held-out text")
    ap.add_argument("--no-heldout", action="store_true", help="do not (re)write models/data/*.txt")
    ap.add_argument("--sources", default=",".join(SOURCES), help="comma-separated subset")
    ap.add_argument("--allow-missing", action="store_true",
                    help="skip a source whose package is not installed (default: stop with an error)")
    args = ap.parse_args()
    unknown = [n for n in args.sources.split(",") if n not in SOURCES]
    if unknown:
        raise SystemExit(f"--sources: unknown {', '.join(unknown)}; known: {', '.join(SOURCES)}")
    os.makedirs(args.out, exist_ok=True)

    seen_docs, seen_paras = set(), set()
    docs = []          # (source, doc_id, text)
    stats = {}
    for name in args.sources.split(","):
        total, ndoc, nchars_in = 0, 0, 0
        try:
            for doc_id, text in EXTRACTORS[name]():
                nchars_in += len(text)
                paras = []
                for par in text.split("\n\n"):
                    par = par.strip("\n")
                    if not is_prose(par):
                        continue
                    key = hashlib.sha1(par.strip().lower().encode()).digest()
                    if len(par) >= 60:
                        if key in seen_paras:
                            continue
                        seen_paras.add(key)
                    paras.append(par)
                text = "\n\n".join(paras).strip()
                if len(text) < 200:
                    continue
                h = hashlib.sha1(text.encode()).digest()
                if h in seen_docs:
                    continue
                if name in CAPS and total + len(text) > CAPS[name]:
                    break
                seen_docs.add(h)
                docs.append((name, doc_id, text))
                total += len(text.encode())
                ndoc += 1
        except (OSError, subprocess.CalledProcessError) as e:
            missing = f"{e.__class__.__name__}: {e}"
        else:
            missing = "" if ndoc else "no text found"
        if missing:
            pkg = APT.get(name, SOURCES[name][0])
            msg = (f"source {name}: {missing}. Its text comes from the Debian package(s) {pkg}: "
                   f"install with `apt-get install {pkg}` (tools/train/build_corpus.sh does this)")
            if not args.allow_missing:
                raise SystemExit("error: " + msg + ", or pass --allow-missing to build without it")
            print("warning: " + msg, file=sys.stderr)
        stats[name] = [ndoc, total, 0, 0]
        print(f"{name:14s} {ndoc:6d} docs {total / 1e6:8.2f} MB", file=sys.stderr)

    # Held-out documents: long (>= 12 KB, so a 2048-token context is exercised), drawn by
    # a stable hash from the prose-rich sources, never repeated in train.txt.
    heldout_pool = {"kjv", "handbook", "python_docs", "linux_docs", "postgres_docs",
                    "perl_docs", "jargon", "debian_docs", "gnu_standards", "git_docs", "devil"}
    ranked = sorted((hashlib.sha1(f"{s}/{d}".encode()).hexdigest(), i)
                    for i, (s, d, t) in enumerate(docs)
                    if s in heldout_pool and 12_000 <= len(t.encode()) <= 60_000)
    held = {"validation": [], "calibration": []}
    used = set()
    for target in ("validation", "calibration"):
        size, per_source = 0, {}
        for _, i in ranked:
            s, d, t = docs[i]
            if i in used or per_source.get(s, 0) >= 2 or size + len(t.encode()) > args.heldout_bytes * 1.25:
                continue
            held[target].append(i)
            used.add(i)
            per_source[s] = per_source.get(s, 0) + 1
            size += len(t.encode()) + len(EOT)
            if size >= args.heldout_bytes:
                break
    if not args.no_heldout:
        os.makedirs(args.heldout_dir, exist_ok=True)
        for target, idx in held.items():
            path = os.path.join(args.heldout_dir, f"{target}.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(EOT.join(docs[i][2] for i in idx))
            print(f"{path}: {len(idx)} docs, {os.path.getsize(path) / 1e3:.0f} KB "
                  f"({', '.join(sorted(set(docs[i][0] + ':' + docs[i][1] for i in idx)))})", file=sys.stderr)

    with open(os.path.join(args.out, "train.txt"), "w", encoding="utf-8") as f:
        first = True
        for i, (s, d, t) in enumerate(docs):
            if i in used:
                stats[s][2] += 1
                stats[s][3] += len(t.encode())
                continue
            if not first:
                f.write(EOT)
            f.write(t)
            first = False
    with open(os.path.join(args.out, "sources.tsv"), "w", encoding="utf-8") as f:
        f.write("source\tpackage\tlicence\tdocs\tbytes\theldout_docs\theldout_bytes\n")
        for name, (n, b, hn, hb) in stats.items():
            pkg, lic = SOURCES[name]
            f.write(f"{name}\t{pkg}\t{lic}\t{n - hn}\t{b - hb}\t{hn}\t{hb}\n")
    total = os.path.getsize(os.path.join(args.out, "train.txt"))
    print(f"train.txt: {total / 1e6:.2f} MB, {len(docs) - len(used)} documents", file=sys.stderr)


if __name__ == "__main__":
    main()
