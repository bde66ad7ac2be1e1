"""Diagrams of chapter 4 (Gluon basics): the TwoStage block of model_construction.md as a
tree of Blocks with the parameter names MXNet 1.9.1 gives in a fresh kernel.
Run: python content/figures/draw_ch4.py [--out DIR]"""
from svgfig import GREY, PALE, Figure, main


def block_tree():
    f = Figure(700, 300, 'TwoStage: Blocks, prefixes and parameter names / Block、前缀和参数名')
    f.rect(20, 20, 450, 260, fill=PALE['grey'], stroke=GREY)
    f.text(245, 40, "TwoStage   prefix 'twostage0_'", 13, weight='bold')
    f.text(245, 60, 'with self.name_scope():', 11, italic=True)
    for i, (attr, layer) in enumerate([('encode', 'Dense(32, relu)'), ('score', 'Dense(3)')]):
        y = 80 + i * 95
        f.rect(40, y, 410, 80, fill=PALE['blue'])
        f.text(245, y + 16, "self.%s = %s   prefix 'twostage0_dense%d_'" % (attr, layer, i), 11,
               weight='bold')
        for j, p in enumerate(['weight', 'bias']):
            f.box(60 + j * 195, y + 34, 180, 32, 'twostage0_dense%d_%s' % (i, p),
                  fill=PALE['orange'], size=10)
    f.box(520, 40, 140, 36, 'x  (4, 12)', fill=PALE['green'], size=11)
    f.box(520, 125, 140, 36, 'encode(x)  (4, 32)', fill=PALE['blue'], size=11)
    f.box(520, 210, 140, 36, 'score(h)  (4, 3)', fill=PALE['blue'], size=11)
    f.arrow(590, 76, 590, 125)
    f.arrow(590, 161, 590, 210)
    f.text(590, 270, 'forward()', 11, italic=True)
    f.line(450, 120, 520, 143, dash='3,3', width=1.0)
    f.line(450, 215, 520, 228, dash='3,3', width=1.0)
    return f


FIGURES = {'ch4_block_tree.svg': block_tree}

if __name__ == '__main__':
    main(FIGURES, __doc__)
