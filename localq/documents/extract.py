"""Text from a stored upload, by kind: PDF (with its pages), HTML (its content, not its
navigation), Markdown, .docx and plain text. Paragraphs are kept (blank lines), so chunks
can be cut where the meaning breaks.
"""
import dataclasses
import html.parser
import re
import unicodedata
import zipfile
from xml.etree import ElementTree

KINDS = {'.txt': 'text', '.text': 'text', '.md': 'markdown', '.markdown': 'markdown', '.html': 'html',
         '.htm': 'html', '.pdf': 'pdf', '.docx': 'docx'}


class InvalidDocument(ValueError):
    """Raised when a file cannot be read as the type it claims: the job fails, no retry."""


@dataclasses.dataclass
class Extracted:
    text: str
    pages: list = dataclasses.field(default_factory=list)   # (offset in text, page number), PDFs only

    def page_at(self, offset):
        """The page a character offset falls on, or None."""
        page = None
        for start, number in self.pages:
            if start > offset:
                break
            page = number
        return page


def extract(path, kind):
    """The text of a stored upload; InvalidDocument if it is not what it claims or has none."""
    if kind == 'pdf':
        result = _pdf(path)
    elif kind == 'docx':
        result = Extracted(_docx(path))
    else:
        text = _decode(path, kind)
        result = Extracted(_html(text) if kind == 'html' else _markdown(text) if kind == 'markdown' else text)
    result.text = tidy(result.text) if not result.pages else result.text
    if not result.text.strip():
        raise InvalidDocument('the file has no text')
    return result


def extract_text(path, kind):
    return extract(path, kind).text


def tidy(text):
    """Spaces collapsed within lines, at most one blank line between paragraphs."""
    text = re.sub(r'[ \t\r\f\v\u00a0]+', ' ', text)
    text = re.sub(r' *\n *', '\n', text)
    return re.sub(r'\n{3,}', '\n\n', text).strip()


def _decode(path, kind):
    with open(path, 'rb') as fh:
        raw = fh.read()
    if b'\x00' in raw:
        raise InvalidDocument('binary data in a %s file' % kind)
    try:
        return raw.decode('utf-8-sig')
    except UnicodeDecodeError:
        raise InvalidDocument('not UTF-8 text') from None


def _pdf(path):
    import pypdf
    parts, pages, offset = [], [], 0
    try:
        reader = pypdf.PdfReader(path)
        for number, page in enumerate(reader.pages, 1):
            # NFKC turns ligatures ("ﬁles") into letters; a word hyphenated at a line end is joined.
            text = unicodedata.normalize('NFKC', page.extract_text() or '')
            text = tidy(re.sub(r'(\w)-\n\s*(\w)', r'\1\2', text))
            if text:
                pages.append((offset, number))
                parts.append(text)
                offset += len(text) + 2
    except Exception as exc:  # pypdf raises many types for broken files
        raise InvalidDocument('not a readable PDF: %s' % exc) from None
    return Extracted('\n\n'.join(parts), pages)


def _docx(path):
    """Paragraphs of word/document.xml (a .docx is a zip of XML; no library needed)."""
    w = '{http://schemas.openxmlformats.org/wordprocessingml/2006/main}'
    try:
        with zipfile.ZipFile(path) as z:
            root = ElementTree.fromstring(z.read('word/document.xml'))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise InvalidDocument('not a readable .docx: %s' % exc) from None
    paragraphs = []
    for p in root.iter(w + 'p'):
        runs = []
        for node in p.iter():
            if node.tag == w + 't' and node.text:
                runs.append(node.text)
            elif node.tag == w + 'tab':
                runs.append('\t')
            elif node.tag in (w + 'br', w + 'cr'):
                runs.append('\n')
        paragraphs.append(''.join(runs))
    return '\n\n'.join(p for p in paragraphs if p.strip())


class _PageText(html.parser.HTMLParser):
    """The readable text of an HTML page: its <main> (or <article>, or role=main) if it has one,
    else its body, without navigation, headers, footers, sidebars, forms and scripts."""
    SKIP = {'script', 'style', 'noscript', 'template', 'svg', 'nav', 'header', 'footer', 'aside', 'form',
            'button', 'select', 'iframe', 'head', 'title'}
    SKIP_ROLES = {'navigation', 'banner', 'contentinfo', 'search', 'complementary'}
    # class or id words of navigation that is not marked up as <nav> (DocBook's navheader and toc,
    # Sphinx's sphinxsidebar and related, many sites' menu, breadcrumb, cookie banner, footer)
    SKIP_WORDS = re.compile(r'^(nav.*|.*sidebar.*|.*breadcrumb.*|.*menu.*|.*footer.*|toc|related|cookie.*|skip-?link)$')
    BLOCK = {'p', 'div', 'section', 'li', 'ul', 'ol', 'dl', 'dt', 'dd', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6',
             'pre', 'blockquote', 'table', 'tr', 'article', 'main', 'figure', 'figcaption', 'hr'}
    VOID = {'br', 'hr', 'img', 'input', 'meta', 'link', 'area', 'base', 'col', 'embed', 'source', 'track', 'wbr'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []          # open elements: (tag, skipping, counted as main)
        self.all, self.main = [], []
        self.main_depth = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        names = re.split(r'[\s]+', ((attrs.get('class') or '') + ' ' + (attrs.get('id') or '')).lower().strip())
        skipping = bool(self.stack and self.stack[-1][1]) or tag in self.SKIP or \
            attrs.get('role') in self.SKIP_ROLES or attrs.get('aria-hidden') == 'true' or \
            any(self.SKIP_WORDS.match(n) for n in names if n)
        is_main = tag in ('main', 'article') or attrs.get('role') == 'main'
        if tag in self.BLOCK or tag == 'br':
            self._emit('\n\n' if tag != 'br' else '\n')
        if tag in self.VOID:
            return
        counted = is_main and not skipping
        self.stack.append((tag, skipping, counted))
        self.main_depth += counted

    def handle_endtag(self, tag):
        if not any(open_tag == tag for open_tag, _, _ in self.stack):
            return   # a stray end tag
        while self.stack:
            open_tag, _, counted = self.stack.pop()
            self.main_depth -= counted
            if open_tag == tag:
                break
        if tag in self.BLOCK:
            self._emit('\n\n')

    def handle_data(self, data):
        if not (self.stack and self.stack[-1][1]):
            # Line breaks in HTML source are spaces, except in preformatted text.
            self._emit(data if any(t in ('pre', 'textarea') for t, _, _ in self.stack) else re.sub(r'\s+', ' ', data))

    def _emit(self, text):
        self.all.append(text)
        if self.main_depth > 0:
            self.main.append(text)


def _html(text):
    parser = _PageText()
    parser.feed(text)
    parser.close()
    main = ''.join(parser.main)
    return main if main.strip() else ''.join(parser.all)


_MD = [
    (re.compile(r'^```.*$', re.M), ''),                        # code fences (the code stays)
    (re.compile(r'!\[[^\]]*\]\([^)]*\)'), ''),                 # images
    (re.compile(r'\[([^\]]+)\]\([^)]*\)'), r'\1'),             # links -> their text
    (re.compile(r'^\s{0,3}#{1,6}\s*', re.M), ''),              # heading marks
    (re.compile(r'^\s{0,3}>\s?', re.M), ''),                   # quote marks
    (re.compile(r'^\s*[-*+]\s+', re.M), ''),                   # list bullets
    (re.compile(r'(\*\*|__)(.+?)\1'), r'\2'),                  # bold
    (re.compile(r'(?<![\w*])[*_](?!\s)(.+?)(?<!\s)[*_](?![\w*])'), r'\1'),   # italics (not snake_case)
    (re.compile(r'`([^`]+)`'), r'\1'),                          # inline code
    (re.compile(r'^[ \t]*\|?([ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*:?-*:?[ \t]*$', re.M), ''),   # table rules
    (re.compile(r'[ \t]*\|[ \t]*'), ' '),                         # table pipes
    (re.compile(r'<[^>\n]+>'), ''),                             # inline HTML tags
]


def _markdown(text):
    for pattern, replacement in _MD:
        text = pattern.sub(replacement, text)
    return text
