"""Chapter 6 figure: a recurrent network unrolled over four time steps (rnn_scratch.md).

Writes ch6_rnn_unrolled.svg next to this script.
"""
from draw_ch456_svg import BLUE, GREEN, GREY, RED, Svg


def main():
    steps = 4
    s = Svg(170 + steps * 150, 270)
    s.box(20, 110, 70, 44, ['h₀ = 0'], fill=GREY)
    for t in range(steps):
        x = 140 + t * 150
        s.box(x, 205, 80, 40, ['x%s' % '₁₂₃₄'[t], "'%s'" % 'time'[t]], fill=GREEN, size=11)
        s.box(x, 110, 80, 44, ['h%s' % '₁₂₃₄'[t], 'tanh'], fill=BLUE)
        s.box(x, 15, 80, 40, ['o%s' % '₁₂₃₄'[t], 'next: %s' % repr('ime '[t])], fill=RED, size=11)
        s.line(x + 40, 203, x + 40, 156, arrow=True)
        s.text(x + 58, 180, 'W_xh', size=10, italic=True)
        s.line(x + 40, 108, x + 40, 57, arrow=True)
        s.text(x + 58, 83, 'W_ho', size=10, italic=True)
        s.line(x - 58 if t else 92, 132, x - 2, 132, arrow=True)
        s.text(x - 35 if t else 115, 122, 'W_hh', size=10, italic=True)
    s.text(s.width / 2, 262, 'the same W_xh, W_hh, W_ho and biases at every time step', size=11, italic=True)
    return s.save('ch6_rnn_unrolled.svg')


if __name__ == '__main__':
    print(main())
