"""Diagrams of chapter 5 (convolutional networks): the cross-correlation window, the axes
batch normalisation averages over, and block diagrams of the small LeNet, AlexNet and VGG-11.
Shapes are (channels, height, width) as the notebooks' code computes them: LeNet on 28x28,
AlexNet and VGG-11 on 224x224 at the papers' widths.
Run: python content/figures/draw_ch5.py [--out DIR]"""
from svgfig import GREY, PALE, RED, Figure, main

PURPLE = '#e6def3'


def lines_box(f, x, y, w, h, lines, fill, size=10):
    """A box with several centred lines, the first one bold."""
    f.rect(x, y, w, h, fill=fill)
    step = size + 3
    top = y + h / 2 - step * (len(lines) - 1) / 2
    for i, s in enumerate(lines):
        f.text(x + w / 2, top + i * step, s, size, weight='bold' if i == 0 else None)


def pipeline(f, x, y, stages, w, h, gap, size=10):
    """Boxes left to right joined by arrows: stages = [(lines, fill), ...]."""
    for i, (lines, fill) in enumerate(stages):
        bx = x + i * (w + gap)
        lines_box(f, bx, y, w, h, lines, fill, size)
        if i:
            f.arrow(bx - gap, y + h / 2, bx, y + h / 2)


def grid(f, x, y, values, cell, fill='white', highlight=()):
    for i, row in enumerate(values):
        for j, v in enumerate(row):
            f.rect(x + j * cell, y + i * cell, cell, cell, radius=0,
                   fill=PALE['orange'] if (i, j) in highlight else fill)
            f.text(x + (j + 0.5) * cell, y + (i + 0.5) * cell, str(v), 13)


def conv_window():
    # the notebook's example: X = arange(12).reshape(3, 4), K = [[1, 0], [0, -1]]
    X = [[4 * i + j for j in range(4)] for i in range(3)]
    K = [[1, 0], [0, -1]]
    Y = [[sum(K[a][b] * X[i + a][j + b] for a in range(2) for b in range(2)) for j in range(3)]
         for i in range(2)]
    c = 34
    f = Figure(600, 225, 'Cross-correlation window / 互相关的窗口')
    f.text(78, 22, '输入 input X (3×4)', 12, weight='bold')
    grid(f, 10, 40, X, c, highlight={(0, 0), (0, 1), (1, 0), (1, 1)})
    f.text(163, 91, '⋆', 26)
    f.text(220, 22, '核 kernel K (2×2)', 12, weight='bold')
    grid(f, 186, 57, K, c, fill=PALE['blue'])
    f.text(280, 91, '=', 24)
    f.text(360, 22, '输出 output Y (2×3)', 12, weight='bold')
    grid(f, 306, 57, Y, c, highlight={(0, 0)})
    f.rect(8, 38, 2 * c + 4, 2 * c + 4, fill='none', stroke=RED, width=2.4, radius=0)
    f.rect(305, 56, c + 2, c + 2, fill='none', stroke=RED, width=2.4, radius=0)
    f.text(300, 180, 'Y[0,0] = 0·1 + 1·0 + 4·0 + 5·(−1) = −5', 13)
    f.text(300, 204, '输出形状 output shape: (3 − 2 + 1) × (4 − 2 + 1) = 2 × 3', 12)
    return f


def batchnorm_axes():
    f = Figure(700, 255, 'Where batch norm averages / 批量归一化在哪些维度上求统计量')
    f.text(155, 20, '全连接层 Dense output (batch × features)', 12, weight='bold')
    rows, cols, c = 6, 5, 28
    for i in range(rows):
        for j in range(cols):
            f.rect(85 + j * c, 40 + i * c, c, c, radius=0,
                   fill=PALE['orange'] if j == 2 else 'white')
    f.text(70, 40 + rows * c / 2, 'N', 12, italic=True)
    f.text(155, 40 + rows * c + 16, '每个特征：在批量上求均值和方差', 11)
    f.text(155, 40 + rows * c + 33, 'per feature, over the batch: shape (features,)', 10)
    f.text(500, 20, '卷积层 Conv output (N × C × H × W)', 12, weight='bold')
    for n in range(3):
        for ch in range(4):
            x0, y0 = 320 + ch * 92, 40 + n * 52
            for a in range(3):
                for b in range(4):
                    f.rect(x0 + b * 14, y0 + a * 13, 14, 13, radius=0,
                           fill=PALE['orange'] if ch == 2 else PALE['grey'], width=0.8)
        f.text(310, 60 + n * 52, 'n=%d' % n, 10, anchor='end')
    for ch in range(4):
        f.text(348 + ch * 92, 202, 'c=%d' % ch, 10, color='#555555')
    f.text(500, 222, '每个通道：在 N、H、W 上求均值和方差', 11)
    f.text(500, 239, 'per channel, over N, H, W: μ, σ² of shape (C,), one γ, β per channel', 10)
    return f


def lenet():
    f = Figure(1010, 112, 'The small LeNet of conv_scratch.md / 本章的小型 LeNet')
    pipeline(f, 10, 30, [
        (['input', '1×28×28'], PALE['green']),
        (['conv 5×5', '8 ch, ReLU'], PALE['blue']), (['max pool', '2×2 /2'], PALE['orange']),
        (['8×12×12'], PALE['grey']),
        (['conv 3×3', '16 ch, ReLU'], PALE['blue']), (['max pool', '2×2 /2'], PALE['orange']),
        (['16×5×5', '→ 400'], PALE['grey']),
        (['dense 64', 'ReLU'], PURPLE), (['dense 10'], PURPLE), (['10 scores'], PALE['red']),
    ], w=80, h=50, gap=20)
    for x, label in [(200, '卷积块 1 block 1: 28 → 24 → 12'), (500, '卷积块 2 block 2: 12 → 10 → 5'),
                     (800, '分类器 classifier')]:
        f.text(x, 98, label, 11, italic=True)
    return f


def alexnet():
    convs = [(96, 11, 4, 0, True), (256, 5, 1, 2, True), (384, 3, 1, 1, False),
             (384, 3, 1, 1, False), (256, 3, 1, 1, True)]
    side, stages = 224, [(['input', '3×224×224'], PALE['green'])]
    for ch, k, st, p, pool in convs:
        side = (side - k + 2 * p) // st + 1
        stages.append((['conv %d×%d' % (k, k), '%d ch%s' % (ch, ', /4' if st == 4 else ''),
                        '→ %d×%d' % (side, side)], PALE['blue']))
        if pool:
            side = (side - 3) // 2 + 1
            stages.append((['max pool', '3×3 /2', '→ %d×%d' % (side, side)], PALE['orange']))
    stages += [(['dense 4096', 'ReLU', 'dropout'], PURPLE)] * 2 + [
               (['dense 1000', '(10 here)'], PALE['red'])]
    f = Figure(16 + len(stages) * 86, 104, 'AlexNet / AlexNet 的结构')
    pipeline(f, 8, 14, stages, w=72, h=64, gap=14, size=9)
    f.text(f.width / 2, 94, '5 个卷积层 + 3 个全连接层，激活函数都是 ReLU  5 conv + 3 dense layers, all ReLU', 11)
    return f


def vgg():
    arch = [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]
    side, stages = 224, [(['input', '224×224'], PALE['green'])]
    for i, (n, ch) in enumerate(arch):
        side //= 2
        stages.append((['VGG block %d' % (i + 1), '%d× conv3×3, %d' % (n, ch),
                        'pool → %d×%d' % (side, side)], PALE['blue']))
    stages += [(['dense 4096', '+ dropout'], PURPLE), (['dense 4096', '+ dropout'], PURPLE),
               (['dense 10'], PALE['red'])]
    f = Figure(16 + len(stages) * 112, 178, 'VGG-11 / VGG-11 的结构')
    pipeline(f, 8, 14, stages, w=98, h=64, gap=14, size=9)
    f.text(150, 102, '一个 VGG 块的内部  inside a VGG block:', 11, weight='bold', anchor='start')
    conv = (['conv 3×3', 'pad 1, ReLU'], PALE['blue'])
    pipeline(f, 150, 115, [conv, (['…', 'n times'], PALE['grey']), conv,
                           (['max pool', '2×2 /2'], PALE['orange'])],
             w=90, h=44, gap=20, size=9)
    f.text(640, 137, '卷积保持高宽，池化减半  convs keep height and width, the pool halves them', 10,
           anchor='start', color=GREY)
    return f


FIGURES = {'ch5_conv_window.svg': conv_window, 'ch5_batchnorm_axes.svg': batchnorm_axes,
           'ch5_lenet.svg': lenet, 'ch5_alexnet.svg': alexnet, 'ch5_vgg.svg': vgg}

if __name__ == '__main__':
    main(FIGURES, __doc__)
