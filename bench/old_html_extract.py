"""localq's hand-written HTML extractor before bench/bench_extract.py chose a library: kept only
so the benchmark can show what it scored (on the rustdoc book's print.html it returned nothing:
a skipped element's end tag never matched, and the skip swallowed the rest of the page)."""
import html.parser
import re


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


def extract_html(text):
    return _html(text)
