#!/usr/bin/env python3
# Doxygen INPUT_FILTER for nodus's public headers (docs/Doxyfile): lets Doxygen read the house
# style's plain `//` comments (STYLE.md) without changing the headers.
# Usage: doxygen_filter.py FILE, the filtered text on stdout. One output line per input line, so
# Doxygen's warnings point to the header's own line numbers; only comment lines change (with one
# exception, LOCAL_NAME below).
#
# - The file's opening comment block (`// nodus/x.hpp: what it is ...`) becomes the file's
#   description (`\file`), without the `nodus/x.hpp: ` prefix that the page title repeats.
# - A run of `//` lines directly above a declaration at namespace, class or enum scope becomes a
#   `///` block; a run followed by a blank line (a section comment), or above a preprocessor line,
#   an access specifier, a forward declaration or a closing brace, stays a plain comment.
#   Comments inside function bodies and initializers stay plain (Doxygen would append them to the
#   function's description).
# - A trailing `// ...` after a member or an enumerator (and the `//` lines under it aligned with
#   it) becomes `///< ...`. NOLINT comments and `}  // namespace x` stay plain.
# - Text is escaped so that Doxygen shows it as written: \ @ < > & # % would be commands or HTML,
#   except inside `code spans` and "quoted text", which Doxygen shows literally; "e.g. " and
#   "i.e. " do not end the brief (JAVADOC_AUTOBRIEF); a wrapped line that starts with "120. " is
#   no numbered list.
# - Lines indented by two or more spaces after the `//` (examples, tables, diagrams) are a code
#   block: \code when its first line ends like C++ (CXX_LINE), else \code{.unparsed} (a table);
#   unless they are a list item's continuation, or a hanging indent: no C++, after a line of text
#   that does not end with ':'.
# - `// clang-format off|on` and `// NOLINTNEXTLINE` / `NOLINTBEGIN` / `NOLINTEND` lines vanish
#   (an empty line, or an empty comment line inside a block).
# - Comments already in Doxygen's syntax (///, //!, ///<) are passed through as they are.
# - Code is passed through as it is, except for a Doxygen bug around the name `local` (LOCAL_NAME).
import re
import sys

TOOL_LINE = re.compile(r"^\s*//\s*(clang-format\s+(off|on)\b|NOLINT(NEXTLINE|BEGIN|END)\b)")
PURE_COMMENT = re.compile(r"^(\s*)//(?![/!])(.*)$")
# A comment already in Doxygen's syntax (///, //!, ///<, //!<) is the author's choice: kept as is.
DOXYGEN_COMMENT = re.compile(r"^\s*//[/!]")
ACCESS = re.compile(r"^\s*(public|private|protected)\s*:")
ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|vs|cf)\. ")
SPECIALS = re.compile(r"(\\(?!\")|[@<>&#%])")  # \" is Doxygen's own escape of a quote
# A line of C++ in a comment ends with ; { or } (before a comment of its own).
CXX_LINE = re.compile(r"[;{}]\s*(//.*)?$")
# `struct x;`, `enum class e : int;` (after their template <...> line, if any).
FORWARD = re.compile(
    r"\s*((class|struct|union)\s+[\w:]+|enum\s+(class\s+)?\w+(\s*:[\w:\s]+)?)\s*;"
)
# Doxygen 1.9.4 reads `local` before whitespace as a Slice keyword, even in C++: `std::uint8_t
# local = 121;` loses its name. `local= 121;` (same length) is read right.
LOCAL_NAME = re.compile(r"\blocal([ \t]+)([={;])")


def split_code(line):
    """(code with string and char literals blanked, column of a trailing // or -1)."""
    out = []
    i, n = 0, len(line)
    while i < n:
        c = line[i]
        if c == "/" and i + 1 < n and line[i + 1] == "/":
            return "".join(out), i
        if c in "\"'":
            if c == "'" and i > 0 and line[i - 1].isalnum() and i + 1 < n and line[i + 1].isalnum():
                out.append(c)  # digit separator (1'000)
                i += 1
                continue
            j = i + 1
            while j < n and line[j] != c:
                j += 2 if line[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out), -1


def strip_template_head(h):
    """h without leading attributes and `template <...>` parameter lists."""
    while True:
        h = h.lstrip()
        if h.startswith("[["):
            end = h.find("]]")
            if end < 0:
                return h
            h = h[end + 2 :]
            continue
        m = re.match(r"template\s*<", h)
        if not m:
            return h
        depth, paren, i = 1, 0, m.end()
        while i < len(h) and depth:
            c = h[i]
            if c == "(":
                paren += 1
            elif c == ")":
                paren -= 1
            elif paren == 0 and c == "<":
                depth += 1
            elif paren == 0 and c == ">":
                depth -= 1
            i += 1
        h = h[i:]


def scope_kind(head):
    """'decl' if a `{` after head opens a namespace, class or enum scope, else 'body'."""
    h = re.sub(r"^(\s*(public|private|protected)\s*:)+", "", head)
    h = strip_template_head(h)
    if re.match(r"(export\s+)?(inline\s+)?namespace\b|extern\s*\"", h):
        return "decl"
    if re.match(r"(class|struct|union|enum)\b", h):
        return "decl"
    if re.match(r"requires\b", h) and re.search(r"\b(class|struct|union)\s+\w+[^()]*$", h):
        return "decl"
    return "body"


def escape_plain(part):
    part = SPECIALS.sub(r"\\\1", part)
    return ABBREVIATIONS.sub(lambda m: m.group(1) + ".\\ ", part)


def escape_paragraph(texts):
    """Escapes the text lines of one paragraph so that Doxygen shows them as written.

    Doxygen shows `code spans` and "quoted text" (a pair of double quotes within one paragraph,
    across lines too; \\" does not end it) literally, so those stay as they are and the rest is
    escaped. A span with a
    ' in it is no span to Doxygen's Markdown (`x' is a quote): it becomes <tt>, escaped."""
    joined = "\n".join(texts)
    n = len(joined)
    kind = [0] * n  # 0 plain, 1 code span, 2 quoted
    ticks = [x for x, c in enumerate(joined) if c == "`"]
    spans = list(zip(ticks[0::2], ticks[1::2]))
    for a, b in spans:
        kind[a : b + 1] = [1] * (b + 1 - a)
    quotes = [
        x for x, c in enumerate(joined) if c == '"' and kind[x] == 0 and joined[x - 1 : x] != "\\"
    ]
    for a, b in zip(quotes[0::2], quotes[1::2]):
        kind[a : b + 1] = [2] * (b + 1 - a)
    out = []
    x = 0
    while x < n:
        y = x
        while y < n and kind[y] == kind[x]:
            y += 1
        seg = joined[x:y]
        if kind[x] == 0:
            out.append(escape_plain(seg))
        elif kind[x] == 1 and "'" in seg:
            # One or more adjacent spans: each `...` to <tt>...</tt>.
            for m in re.finditer(r"`([^`]*)`", seg):
                out.append("<tt>" + re.sub(r'([\\@<>&#%"])', r"\\\1", m.group(1)) + "</tt>")
        else:
            out.append(seg)
        x = y
    lines = "".join(out).split("\n")
    # A wrapped line that starts with "120. " is no numbered list.
    return [re.sub(r"^(\s*\d+)\. ", r"\1\\. ", t) for t in lines]


def doc_block(lines, idx, first_prefix_strip=None):
    """The lines lines[i], i in idx (a comment run), as a /// block: [(i, indent, text)]."""
    texts = []
    for i in idx:
        m = PURE_COMMENT.match(lines[i])
        texts.append([i, m.group(1), None if TOOL_LINE.match(lines[i]) else m.group(2)])
    if first_prefix_strip and texts and texts[0][2] is not None:
        t = texts[0][2]
        texts[0][2] = re.sub(r"^ " + re.escape(first_prefix_strip) + r":\s*", " ", t)
    # Code blocks: consecutive lines indented by 2+ spaces after the //; paragraphs: runs of other
    # non-empty lines.
    # A list item ("- x", "  - x") and the lines indented to its text (its continuation) are text.
    is_code = []
    item_indent = None
    for _, _, t in texts:
        item = re.match(r"^( {1,3}[-*+] )\S", t or "")
        if item:
            item_indent = len(item.group(1))
        elif item_indent is None or not re.match(r"^ {%d}\S" % item_indent, t or ""):
            item_indent = None
        is_code.append(
            item is None and item_indent is None and re.match(r"^  +\S", t or "") is not None
        )
    # A block opens after an empty line or a line ending with ':', or starts with a line of C++;
    # else it is a hanging indent of the text above.
    for k in range(len(texts)):
        if is_code[k] and k > 0 and not is_code[k - 1]:
            before = (texts[k - 1][2] or "").rstrip()
            if before and not before.endswith(":") and not CXX_LINE.search(texts[k][2]):
                x = k
                while x < len(texts) and is_code[x]:
                    is_code[x] = False
                    x += 1
    k = 0
    while k < len(texts):
        j = k
        if is_code[k]:
            while j < len(texts) and is_code[j]:
                j += 1
            block = [texts[x][2] for x in range(k, j)]
            cxx = CXX_LINE.search(block[0]) is not None
            opener = " \\code" if cxx else " \\code{.unparsed}"
            if k > 0 and texts[k - 1][2] is not None and not is_code[k - 1]:
                texts[k - 1][2] += opener  # opened at the end of the line before it
            else:
                texts[k][2] = opener + texts[k][2]
            texts[j - 1][2] += " \\endcode"
        elif texts[k][2] is None or texts[k][2].strip() == "":
            j = k + 1
        else:
            while (j < len(texts) and not is_code[j] and texts[j][2] is not None
                   and texts[j][2].strip() != ""):
                j += 1
            escaped = escape_paragraph([texts[x][2] for x in range(k, j)])
            for x in range(k, j):
                texts[x][2] = escaped[x - k]
        k = j
    return [(i, ind, t or "") for i, ind, t in texts]


def is_forward_declaration(lines, j):
    """Whether lines[j] starts a forward declaration (`template <...> struct x;`): its comment is a
    heading (fwd.hpp's `// core/`), and the definition's comment is the one that documents."""
    while j < len(lines) and re.match(r"\s*template\s*<.*>\s*$", lines[j]):
        j += 1
    return j < len(lines) and FORWARD.match(lines[j]) is not None


def filter_text(path, text):
    lines = text.split("\n")
    n = len(lines)
    out = list(lines)

    # Pass 1: for each line, the scope at its start and end, and where its trailing comment is.
    kind_at = [None] * n  # scope kind at the start of the line ('decl' or 'body')
    trailing = [-1] * n  # column of a trailing // after code
    trailing_ok = [False] * n  # that trailing comment documents the declaration on its line
    stack = ["decl"]
    pp_stack = []
    head = ""
    paren = 0
    in_pp = False
    for i, line in enumerate(lines):
        kind_at[i] = stack[-1] if stack else "decl"
        stripped = line.strip()
        if in_pp or stripped.startswith("#"):
            d = re.match(r"#\s*(\w+)", stripped)
            if not in_pp and d:
                if d.group(1) in ("if", "ifdef", "ifndef"):
                    pp_stack.append(list(stack))
                elif d.group(1) in ("else", "elif") and pp_stack:
                    stack = list(pp_stack[-1])
                elif d.group(1) == "endif" and pp_stack:
                    pp_stack.pop()
            in_pp = stripped.endswith("\\")
            continue
        if PURE_COMMENT.match(line) or DOXYGEN_COMMENT.match(line) or not stripped:
            continue
        code, col = split_code(line)
        delta = 0
        for c in code:
            if c == "{":
                stack.append(scope_kind(head))
                head = ""
                delta += 1
            elif c == "}":
                if len(stack) > 1:
                    stack.pop()
                head = ""
                delta -= 1
            elif c == ";":
                head = ""
            else:
                head += c
                if c == "(":
                    paren += 1
                elif c == ")":
                    paren = max(0, paren - 1)
        head += " "
        if col >= 0:
            trailing[i] = col
            comment = line[col + 2 :].strip()
            c = code.rstrip()
            trailing_ok[i] = (
                not comment.startswith("NOLINT")
                and not c.lstrip().startswith("}")
                and delta == 0
                and paren == 0
                and (stack[-1] if stack else "decl") == "decl"
                and kind_at[i] == "decl"
                and c != ""
                and (c[-1] in ",;})" or c[-1].isalnum() or c[-1] == "_")
            )

    # Pass 2: trailing comments, then comment runs.
    handled = [False] * n
    for i in range(n):
        if PURE_COMMENT.match(lines[i]) or DOXYGEN_COMMENT.match(lines[i]) or handled[i]:
            continue
        code_end = trailing[i] if trailing[i] >= 0 else len(lines[i])
        if not lines[i].lstrip().startswith("#"):
            out[i] = LOCAL_NAME.sub(r"local\2\1", lines[i][:code_end]) + lines[i][code_end:]
        if trailing[i] < 0 or lines[i][trailing[i] + 2 : trailing[i] + 3] in ("/", "!"):
            continue
        # The trailing comment, and the // lines under it aligned with it (its continuation).
        col = trailing[i]
        cont = [i]
        j = i + 1
        while j < n:
            m = PURE_COMMENT.match(lines[j])
            if not m or m.group(1) != " " * col or TOOL_LINE.match(lines[j]):
                break
            cont.append(j)
            j += 1
        for k in cont[1:]:
            handled[k] = True
        if trailing_ok[i]:
            escaped = escape_paragraph([lines[k][col + 2 :] for k in cont])
            for k, t in zip(cont, escaped):
                out[k] = out[k][:col] + "///<" + t

    i = 0
    while i < n:
        if not PURE_COMMENT.match(lines[i]) or handled[i]:
            i += 1
            continue
        j = i
        while j < n and PURE_COMMENT.match(lines[j]) and not handled[j]:
            j += 1
        run = list(range(i, j))
        nxt = lines[j] if j < n else ""
        ns = nxt.strip()
        is_file_block = run[0] == 0 and re.match(r"^//\s*nodus/\S+\.hpp:", lines[0])
        documents = (
            kind_at[run[0]] == "decl"
            and ns != ""
            and not ns.startswith("}")
            and not (ns.startswith("#") and not re.match(r"#\s*define\b", ns))
            and not ACCESS.match(nxt)
            and not ns.startswith("static_assert")
            and not is_forward_declaration(lines, j)
        )
        if is_file_block or documents:
            name = None
            if is_file_block:
                name = re.match(r"^//\s*(nodus/\S+\.hpp):", lines[0]).group(1)
            rendered = doc_block(lines, run, name)
            for li, ind, t in rendered:
                out[li] = ind + "///" + t
            if is_file_block:
                out[run[-1]] += " \\file"
        i = j
    # clang-format and NOLINT lines left in plain comments vanish (in a /// block they are empty).
    for li in range(n):
        if TOOL_LINE.match(out[li]):
            out[li] = ""
    return "\n".join(out)


def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    sys.stdout.write(filter_text(path, text))


if __name__ == "__main__":
    main()
