"""Diagrams of chapter 6 (recurrent networks): the character RNN of rnn_scratch.md unrolled
over four time steps. Run: python content/figures/draw_ch6.py [--out DIR]"""
from svgfig import PALE, Figure, main


def rnn_unrolled():
    steps = 4
    f = Figure(170 + steps * 150, 275, 'An RNN unrolled in time / 按时间展开的循环神经网络')
    f.box(20, 110, 70, 44, 'h0 = 0', fill=PALE['grey'], size=12)
    for t in range(steps):
        x = 140 + t * 150
        f.box(x, 205, 80, 44, 'x%d' % (t + 1), fill=PALE['green'], sub="'%s'" % 'time'[t])
        f.box(x, 110, 80, 44, 'h%d' % (t + 1), fill=PALE['blue'], sub='tanh')
        f.box(x, 15, 80, 44, 'o%d' % (t + 1), fill=PALE['red'], sub='next: %r' % 'ime '[t])
        f.arrow(x + 40, 205, x + 40, 154)
        f.text(x + 60, 180, 'W_xh', 10, italic=True)
        f.arrow(x + 40, 110, x + 40, 59)
        f.text(x + 60, 85, 'W_ho', 10, italic=True)
        f.arrow(x - 60 if t else 90, 132, x, 132)
        f.text(x - 35 if t else 115, 122, 'W_hh', 10, italic=True)
    f.text(f.width / 2, 264, '每个时间步共用同一组参数  the same W_xh, W_hh, W_ho and biases at every step', 11)
    return f


FIGURES = {'ch6_rnn_unrolled.svg': rnn_unrolled}

if __name__ == '__main__':
    main(FIGURES, __doc__)
