"""Chapter 5 figures: block diagrams of the small LeNet, AlexNet and VGG-11.

Writes ch5_lenet.svg, ch5_alexnet.svg and ch5_vgg.svg next to this script. Shapes are
(channels, height, width) as the notebooks' own code computes them: LeNet on a 28x28 input,
AlexNet and VGG-11 on a 224x224 input at the papers' widths.
"""
from draw_ch456_svg import BLUE, GREEN, GREY, ORANGE, PURPLE, RED, Svg, pipeline


def lenet():
    s = Svg(1010, 110)
    pipeline(s, 10, 30, [
        (['input', '1×28×28'], GREEN),
        (['conv 5×5', '8 ch, ReLU'], BLUE), (['max pool', '2×2 /2'], ORANGE),
        (['8×12×12'], GREY),
        (['conv 3×3', '16 ch, ReLU'], BLUE), (['max pool', '2×2 /2'], ORANGE),
        (['16×5×5', '→ 400'], GREY),
        (['dense 64', 'ReLU'], PURPLE), (['dense 10'], PURPLE), (['10 scores'], RED),
    ], w=80, h=50, gap=20)
    for x, label in [(200, 'block 1: 28 → 24 → 12'), (500, 'block 2: 12 → 10 → 5'), (800, 'classifier')]:
        s.text(x, 98, label, size=11, italic=True)
    return s.save('ch5_lenet.svg')


def alexnet():
    convs = [(96, 11, 4, 0, True), (256, 5, 1, 2, True), (384, 3, 1, 1, False),
             (384, 3, 1, 1, False), (256, 3, 1, 1, True)]
    side, stages = 224, [(['input', '3×224×224'], GREEN)]
    for ch, k, st, p, pool in convs:
        side = (side - k + 2 * p) // st + 1
        stages.append((['conv %d×%d' % (k, k), '%d ch%s' % (ch, ', /4' if st == 4 else ''),
                        '→ %d×%d' % (side, side)], BLUE))
        if pool:
            side = (side - 3) // 2 + 1
            stages.append((['max pool', '3×3 /2', '→ %d×%d' % (side, side)], ORANGE))
    stages += [(['dense 4096', 'ReLU', 'dropout'], PURPLE), (['dense 4096', 'ReLU', 'dropout'], PURPLE),
               (['dense 1000', '(10 here)'], RED)]
    s = Svg(16 + len(stages) * 86, 100)
    pipeline(s, 8, 14, stages, w=72, h=64, gap=14, size=9)
    s.text(s.width / 2, 92, '5 conv layers + 3 dense layers; all activations ReLU', size=11, italic=True)
    return s.save('ch5_alexnet.svg')


def vgg():
    arch = [(1, 64), (1, 128), (2, 256), (2, 512), (2, 512)]
    side, stages = 224, [(['input', '224×224'], GREEN)]
    for i, (n, ch) in enumerate(arch):
        side //= 2
        stages.append((['VGG block %d' % (i + 1), '%d× conv3×3, %d' % (n, ch), 'pool → %d×%d' % (side, side)],
                       BLUE))
    stages += [(['dense 4096', '+ dropout'], PURPLE), (['dense 4096', '+ dropout'], PURPLE),
               (['dense 10'], RED)]
    s = Svg(16 + len(stages) * 112, 175)
    pipeline(s, 8, 14, stages, w=98, h=64, gap=14, size=9)
    # one VGG block opened up below
    s.text(150, 102, 'inside a VGG block:', size=11, weight='bold', anchor='start')
    pipeline(s, 150, 115, [(['conv 3×3', 'pad 1, ReLU'], BLUE), (['…', 'n times'], GREY),
                           (['conv 3×3', 'pad 1, ReLU'], BLUE), (['max pool', '2×2 /2'], ORANGE)],
             w=90, h=44, gap=20, size=9)
    s.text(700, 137, 'height and width kept by the convs, halved by the pool', size=10, italic=True,
           anchor='start')
    return s.save('ch5_vgg.svg')


if __name__ == '__main__':
    print(lenet())
    print(alexnet())
    print(vgg())
