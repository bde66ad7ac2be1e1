"""Chapter 4 figure: the TwoStage block of model_construction.md as a tree of Blocks.

Writes ch4_block_tree.svg next to this script. Names are the ones MXNet 1.9.1 gives in a
fresh kernel (the notebook prints them).
"""
from draw_ch456_svg import BLUE, GREEN, GREY, ORANGE, Svg


def main():
    s = Svg(700, 300)
    s.rect(20, 20, 450, 260, fill=GREY, rx=8)
    s.text(245, 40, "TwoStage   prefix 'twostage0_'", size=13, weight='bold')
    s.text(245, 60, 'with self.name_scope():', size=11, italic=True)
    for i, (attr, units) in enumerate([('encode', 'Dense(32, relu)'), ('score', 'Dense(3)')]):
        y = 80 + i * 95
        s.rect(40, y, 410, 80, fill=BLUE, rx=6)
        s.text(245, y + 16, "self.%s = %s   prefix 'twostage0_dense%d_'" % (attr, units, i), size=11,
               weight='bold')
        for j, p in enumerate(['weight', 'bias']):
            s.box(60 + j * 195, y + 34, 180, 32, ['twostage0_dense%d_%s' % (i, p)], fill=ORANGE, size=10)
    # forward data flow on the right
    s.box(520, 40, 140, 36, ['x  (4, 12)'], fill=GREEN)
    s.box(520, 125, 140, 36, ['encode(x)  (4, 32)'], fill=BLUE)
    s.box(520, 210, 140, 36, ['score(h)  (4, 3)'], fill=BLUE)
    s.line(590, 78, 590, 123, arrow=True)
    s.line(590, 163, 590, 208, arrow=True)
    s.text(590, 270, 'forward()', size=11, italic=True)
    s.line(450, 120, 518, 143, dash='3,3')
    s.line(450, 215, 518, 228, dash='3,3')
    return s.save('ch4_block_tree.svg')


if __name__ == '__main__':
    print(main())
