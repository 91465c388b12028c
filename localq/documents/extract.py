"""Text from a stored upload, by kind: PDF (with its pages), HTML (its content, not its
navigation), Markdown, .docx and plain text. Paragraphs are kept (blank lines), so chunks
can be cut where the meaning breaks.
"""
import dataclasses
import re
import unicodedata
import zipfile
from xml.etree import ElementTree

KINDS = {'.txt': 'text', '.text': 'text', '.md': 'markdown', '.markdown': 'markdown', '.html': 'html',
         '.htm': 'html', '.pdf': 'pdf', '.docx': 'docx'}


SECTION_SEPARATOR = ' › '
# Titles of boxes inside a section (DocBook and Sphinx set them as headings), not sections.
ADMONITIONS = frozenset({'Note', 'Tip', 'Warning', 'Caution', 'Important', 'See also', 'Hint', 'Danger'})


class InvalidDocument(ValueError):
    """Raised when a file cannot be read as the type it claims: the job fails, no retry."""


@dataclasses.dataclass
class Extracted:
    text: str
    pages: list = dataclasses.field(default_factory=list)   # (offset in text, page number), PDFs only
    # (offset in text, level, title) of each heading, in order: HTML h1-h6, Markdown #, .docx
    # Heading styles, a PDF's outline (at the start of the page it points to)
    sections: list = dataclasses.field(default_factory=list)

    def section_at(self, offset):
        """The headings a character offset falls under, outermost first ("Guide › Install"), or None."""
        path = []
        for start, level, title in self.sections:
            if start > offset:
                break
            path = [h for h in path if h[0] < level] + [(level, title)]
        return SECTION_SEPARATOR.join(title for _, title in path) or None

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
    headings = []
    if kind == 'pdf':
        result = _pdf(path)
    elif kind == 'docx':
        text, headings = _docx(path)
        result = Extracted(text)
    else:
        text = _decode(path, kind)
        if kind == 'html':
            text, headings = _html_with_headings(text)
        elif kind == 'markdown':
            text, headings = _markdown(text), _markdown_headings(text)
        result = Extracted(text)
    result.text = tidy(result.text) if not result.pages else result.text
    if headings:
        result.sections = locate_headings(result.text, headings)
    if not result.text.strip():
        raise InvalidDocument('the file has no text')
    return result


def extract_text(path, kind):
    return extract(path, kind).text


def locate_headings(text, headings):
    """[(offset, level, title)] of the (level, title) headings found in text, in order; a heading
    the text does not hold (it was in skipped navigation) is left out."""
    found, at = [], 0
    for level, title in headings:
        title = ' '.join(title.split()).strip(' ¶#§')
        if not title or title in ADMONITIONS:
            continue
        # A heading is a line of its own followed by a blank line; the same words inside a sentence,
        # or as a line of an in-page table of contents (lines without blank lines between), are not it.
        for m in re.finditer(r'(?<![^\n])%s(?![^\n])' % re.escape(title), text[at:]):
            start, end = at + m.start(), at + m.end()
            if end == len(text) or text.startswith('\n\n', end):
                found.append((start, level, title))
                at = end
                break
    return found


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
    return Extracted('\n\n'.join(parts), pages, _pdf_outline(reader, dict((n, o) for o, n in pages)))


def _pdf_outline(reader, page_offsets):
    """The PDF's outline (bookmarks) as sections, each at the start of the page it points to."""
    found = []

    def walk(items, level):
        for item in items:
            if isinstance(item, list):   # the children of the entry before it
                walk(item, level + 1)
                continue
            try:
                offset = page_offsets.get(reader.get_destination_page_number(item) + 1)
            except Exception:   # a broken bookmark is no reason to refuse the document
                continue
            title = ' '.join(str(getattr(item, 'title', '') or '').split())
            if offset is not None and title:
                found.append((offset, level, title))
    try:
        walk(reader.outline, 1)
    except Exception:
        return []
    return sorted(found, key=lambda s: s[0])   # stable: entries on one page keep their order


def _docx(path):
    """Paragraphs of word/document.xml (a .docx is a zip of XML; no library needed)."""
    w = '{http://schemas.openxmlformats.org/wordprocessingml/2006/main}'
    try:
        with zipfile.ZipFile(path) as z:
            root = ElementTree.fromstring(z.read('word/document.xml'))
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError) as exc:
        raise InvalidDocument('not a readable .docx: %s' % exc) from None
    paragraphs, headings = [], []
    for p in root.iter(w + 'p'):
        style = p.find('%spPr/%spStyle' % (w, w))
        style = style.get(w + 'val', '') if style is not None else ''
        runs = []
        for node in p.iter():
            if node.tag == w + 't' and node.text:
                runs.append(node.text)
            elif node.tag == w + 'tab':
                runs.append('\t')
            elif node.tag in (w + 'br', w + 'cr'):
                runs.append('\n')
        paragraphs.append(''.join(runs))
        level = 0 if style == 'Title' else int(style[7:]) if re.fullmatch(r'Heading\d', style) else None
        if level is not None:
            headings.append((level, paragraphs[-1]))
    return '\n\n'.join(p for p in paragraphs if p.strip()), headings


# HTML: Resiliparse's main-content extraction, chosen by bench/bench_extract.py on real pages from
# eleven generators (mdBook, Sphinx, MkDocs, texinfo, Javadoc, rustdoc, gtk-doc, DocBook, ikiwiki):
# it kept every marked content phrase (the hand-written html.parser extractor it replaced lost a
# quarter, and the whole of mdBook's print.html) and dropped most navigation, at ~3 ms a page.
# A page header outside the content (site name, version picker) is skipped too: Resiliparse keeps
# a <header> that is a direct child of <body>; DocBook's Prev/Up/Next bars are classed, not <nav>.
_PAGE_CHROME = ['body > header', 'body > div > header', '[role=banner]', '[role=navigation]', '[role=search]',
                'div.navheader', 'div.navfooter']


def html_text(text):
    """The readable text of an HTML page: its main content, blocks separated by blank lines; the
    whole page's text if no main content is found."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.html import HTMLTree
    tree = HTMLTree.parse(text)
    options = dict(list_bullets=False, alt_texts=False, links=False, form_fields=False, noscript=False)
    main = extract_plain_text(tree, main_content=True, skip_elements=_PAGE_CHROME, **options)
    return main if main.strip() else extract_plain_text(tree, main_content=False, **options)


_html = html_text


def _html_with_headings(text):
    """(text, [(level, title)] of the page's h1-h6 in order)."""
    from resiliparse.parse.html import HTMLTree
    tree = HTMLTree.parse(text)
    headings = [(int(h.tag[1]), h.text) for h in tree.body.query_selector_all('h1, h2, h3, h4, h5, h6')] \
        if tree.body is not None else []
    return html_text(text), headings


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


_FENCE = re.compile(r'^\s{0,3}(```|~~~)')
_MD_HEADING = re.compile(r'^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$')


def _markdown_headings(text):
    """[(level, title)] of a Markdown text's # headings (not the # comments inside code fences)."""
    headings, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            m = _MD_HEADING.match(line)
            if m:
                headings.append((len(m.group(1)), _markdown(m.group(2)).strip()))
    return headings
