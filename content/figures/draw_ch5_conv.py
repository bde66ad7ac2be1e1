"""Chapter 5 figures: the cross-correlation window (conv_scratch.md) and the axes batch
normalisation averages over (batch_norm_scratch.md).

Writes ch5_conv_window.svg and ch5_batchnorm_axes.svg next to this script. The numbers in the
window figure are the notebook's example: X = arange(12).reshape(3, 4), K = [[1, 0], [0, -1]].
"""
from draw_ch456_svg import BLUE, GREEN, GREY, ORANGE, PURPLE, Svg


def conv_window():
    X = [[4 * i + j for j in range(4)] for i in range(3)]
    K = [[1, 0], [0, -1]]
    Y = [[sum(K[a][b] * X[i + a][j + b] for a in range(2) for b in range(2)) for j in range(3)]
         for i in range(2)]
    s = Svg(600, 220)
    cell = 34
    s.text(70, 22, 'input X (3×4)', size=12, weight='bold')
    s.grid(10, 40, X, cell=cell, highlight={(0, 0), (0, 1), (1, 0), (1, 1)}, size=13)
    s.text(160, 91, '⋆', size=26)
    s.text(220, 22, 'kernel K (2×2)', size=12, weight='bold')
    s.grid(186, 57, K, cell=cell, fill=BLUE, size=13)
    s.text(280, 91, '=', size=24)
    s.text(360, 22, 'output Y (2×3)', size=12, weight='bold')
    s.grid(306, 57, Y, cell=cell, highlight={(0, 0)}, size=13)
    s.text(300, 180, 'Y[0,0] = 0·1 + 1·0 + 4·0 + 5·(−1) = −5', size=13)
    s.text(300, 202, 'output shape: (3 − 2 + 1) × (4 − 2 + 1) = 2 × 3', size=12)
    s.rect(8, 38, 2 * cell + 4, 2 * cell + 4, fill='none', stroke='#cc0000', width=2.2)
    s.rect(305, 56, cell + 2, cell + 2, fill='none', stroke='#cc0000', width=2.2)
    s.path('M %g %g Q 230 175 %g %g' % (10 + 2 * cell, 40 + 2 * cell, 322, 57 + cell + 2),
           stroke='#cc0000', arrow=True)
    return s.save('ch5_conv_window.svg')


def batchnorm_axes():
    s = Svg(680, 250)
    # dense layer: a batch x features matrix, statistics per column
    s.text(130, 20, 'Dense output (batch × features)', size=12, weight='bold')
    rows, cols, c = 6, 5, 28
    for i in range(rows):
        for j in range(cols):
            s.rect(60 + j * c, 40 + i * c, c, c, fill=ORANGE if j == 2 else 'white')
    s.text(60 + 2.5 * c, 40 + rows * c + 16, 'mean/var of one feature: over the batch', size=11)
    s.text(60 + 2.5 * c, 40 + rows * c + 33, 'μ, σ² have shape (features,)', size=11)
    s.text(44, 40 + rows * c / 2, 'N', size=12, italic=True)
    # conv layer: N samples, each C feature maps of H x W; statistics per channel
    s.text(470, 20, 'Conv output (N × C × H × W)', size=12, weight='bold')
    fills = [BLUE, GREEN, ORANGE, PURPLE]
    for n in range(3):
        for ch in range(4):
            x0, y0 = 300 + ch * 92, 40 + n * 52
            fill = ORANGE if ch == 2 else GREY
            for a in range(3):
                for b in range(4):
                    s.rect(x0 + b * 14, y0 + a * 13, 14, 13, fill=fill)
        s.text(288, 60 + n * 52, 'n=%d' % n, size=10, anchor='end')
    for ch in range(4):
        s.text(328 + ch * 92, 202, 'c=%d' % ch, size=10, fill='#555555')
    s.text(480, 222, 'mean/var of one channel: over N, H and W', size=11)
    s.text(480, 239, 'μ, σ² have shape (C,): one γ, β per channel', size=11)
    return s.save('ch5_batchnorm_axes.svg')


if __name__ == '__main__':
    print(conv_window())
    print(batchnorm_axes())
