"""Tiny SVG writer for the chapter 4-6 diagrams (no dependencies, deterministic output).

The draw_ch4*/draw_ch5*/draw_ch6* scripts build their figures with it; run any of them with
plain python3 from this folder or elsewhere: they write next to themselves.
"""
import os
from xml.sax.saxutils import escape

FONT = "'Noto Sans CJK SC', 'Source Han Sans SC', 'Microsoft YaHei', 'DejaVu Sans', sans-serif"
HERE = os.path.dirname(os.path.abspath(__file__))

# A small palette used across the chapters' figures.
BLUE, ORANGE, GREEN, RED, GREY, PURPLE = '#cfe2f3', '#fce5cd', '#d9ead3', '#f4cccc', '#eeeeee', '#d9d2e9'
INK = '#333333'


class Svg:
    def __init__(self, width, height):
        self.width, self.height = width, height
        self.items = []

    def rect(self, x, y, w, h, fill='white', stroke=INK, rx=0, width=1.2, dash=None):
        extra = ' stroke-dasharray="%s"' % dash if dash else ''
        self.items.append('<rect x="%g" y="%g" width="%g" height="%g" rx="%g" fill="%s" '
                          'stroke="%s" stroke-width="%g"%s/>' % (x, y, w, h, rx, fill, stroke, width, extra))

    def text(self, x, y, s, size=12, anchor='middle', weight='normal', fill=INK, italic=False):
        style = ' font-style="italic"' if italic else ''
        self.items.append('<text x="%g" y="%g" font-size="%g" text-anchor="%s" font-weight="%s" '
                          'fill="%s" dominant-baseline="middle"%s>%s</text>'
                          % (x, y, size, anchor, weight, fill, style, escape(str(s))))

    def line(self, x1, y1, x2, y2, arrow=False, color=INK, width=1.2, dash=None):
        extra = ' marker-end="url(#arrow)"' if arrow else ''
        if dash:
            extra += ' stroke-dasharray="%s"' % dash
        self.items.append('<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="%g"%s/>'
                          % (x1, y1, x2, y2, color, width, extra))

    def path(self, d, fill='none', stroke=INK, width=1.2, arrow=False):
        extra = ' marker-end="url(#arrow)"' if arrow else ''
        self.items.append('<path d="%s" fill="%s" stroke="%s" stroke-width="%g"%s/>'
                          % (d, fill, stroke, width, extra))

    def box(self, x, y, w, h, lines, fill=BLUE, size=11, rx=4):
        """A rounded box with one or more centred text lines."""
        self.rect(x, y, w, h, fill=fill, rx=rx)
        step = size + 3
        top = y + h / 2 - step * (len(lines) - 1) / 2
        for i, s in enumerate(lines):
            self.text(x + w / 2, top + i * step, s, size=size, weight='bold' if i == 0 else 'normal')

    def grid(self, x, y, values, cell=26, fill='white', highlight=(), hl_fill=ORANGE, size=11):
        """A table of numbers; `highlight` holds (row, col) cells to colour."""
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                self.rect(x + j * cell, y + i * cell, cell, cell,
                          fill=hl_fill if (i, j) in highlight else fill)
                if v is not None:
                    self.text(x + (j + 0.5) * cell, y + (i + 0.5) * cell, v, size=size)

    def save(self, name):
        head = ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
                'font-family="%s">\n<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
                'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
                '<path d="M0,0 L10,5 L0,10 z" fill="%s"/></marker></defs>\n'
                '<rect width="100%%" height="100%%" fill="white"/>\n'
                % (self.width, self.height, self.width, self.height, FONT, INK))
        path = os.path.join(HERE, name)
        with open(path, 'w', encoding='utf-8') as f:
            f.write(head + '\n'.join(self.items) + '\n</svg>\n')
        return path


def pipeline(svg, x, y, stages, w=78, h=54, gap=22, size=10):
    """Boxes left to right joined by arrows: stages = [(lines, fill), ...]; returns end x."""
    for i, (lines, fill) in enumerate(stages):
        bx = x + i * (w + gap)
        svg.box(bx, y, w, h, lines, fill=fill, size=size)
        if i:
            svg.line(bx - gap + 2, y + h / 2, bx - 2, y + h / 2, arrow=True)
    return x + len(stages) * (w + gap) - gap
