"""Diagrams of chapter 4 (Gluon basics): the TwoStage block of model_construction.md as a
tree of Blocks (with the parameter names MXNet 1.9.1 gives in a fresh kernel), when deferred
initialisation happens, what save_parameters and export write, the low-rank dense layer of
custom_layer.md, and where arrays live (host vs GPU memory).
Run: python content/figures/draw_ch4.py [--out DIR]"""
from svgfig import GREY, PALE, RED, Figure, main


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


def deferred_init():
    f = Figure(720, 170, 'Deferred initialisation / 延后初始化')
    steps = [('nn.Dense(32)', 'weight shape (32, 0)', PALE['grey']),
             ('initialize(init)', 'remembers init only', PALE['blue']),
             ('net(X), X: (5, 12)', 'first forward', PALE['orange']),
             ('weight (32, 12)', 'created + init called', PALE['green'])]
    for k, (label, sub, fill) in enumerate(steps):
        x = 20 + k * 175
        f.box(x, 50, 150, 60, label, fill=fill, sub=sub, size=12)
        if k:
            f.arrow(x - 25, 80, x, 80)
    f.text(360, 25, '形状在第一次前向计算时才确定  shapes are known only at the first forward pass', 12)
    f.text(360, 140, '之前读取 weight.data() 会抛出 DeferredInitializationError', 12, color='#555555')
    return f


def save_vs_export():
    f = Figure(720, 200, 'save_parameters vs export / 只存参数与连同计算图导出')
    f.box(20, 70, 150, 60, 'Scorer (Python)', fill=PALE['blue'], sub='class in your code')
    f.box(250, 25, 200, 50, 'scorer.params', fill=PALE['orange'], sub='body.weight, head.bias, ...')
    f.box(250, 125, 200, 50, 'scorer_graph-symbol.json', fill=PALE['green'], sub='+ -0000.params')
    f.box(530, 25, 170, 50, 'Scorer() + load_parameters', fill=PALE['grey'], size=11,
          sub='needs the class')
    f.box(530, 125, 170, 50, 'SymbolBlock.imports', fill=PALE['grey'], size=11,
          sub='no Python class')
    f.arrow(170, 90, 250, 50)
    f.arrow(170, 110, 250, 150)
    f.arrow(450, 50, 530, 50)
    f.arrow(450, 150, 530, 150)
    f.text(228, 88, 'save_parameters', 10, color='#555555')
    f.text(228, 113, 'hybridize + export', 10, color='#555555')
    return f


def low_rank():
    f = Figure(640, 190, 'Low-rank dense layer / 低秩全连接层')
    f.rect(30, 40, 90, 120, fill=PALE['blue'])
    f.text(75, 100, 'W', 16, weight='bold')
    f.text(75, 175, '40 × 30 = 1200', 11)
    f.text(160, 100, '≈', 24)
    f.rect(200, 40, 24, 120, fill=PALE['orange'])
    f.text(212, 100, 'U', 14, weight='bold')
    f.text(212, 175, '40 × 2', 11)
    f.text(250, 100, '×', 20)
    f.rect(275, 88, 90, 24, fill=PALE['green'])
    f.text(320, 100, 'V', 14, weight='bold')
    f.text(320, 130, '2 × 30', 11)
    f.text(500, 70, 'y = (x U) V + b', 15)
    f.text(500, 105, '参数 2 × (40 + 30) + 30 = 170', 12)
    f.text(500, 130, 'parameters, instead of 1230', 12, color='#555555')
    return f


def devices():
    f = Figure(720, 210, 'Where arrays live / 数组在哪台设备上')
    f.rect(20, 30, 280, 150, fill=PALE['grey'], stroke=GREY)
    f.text(160, 48, 'CPU + 主机内存  host memory: mx.cpu()', 12, weight='bold')
    f.box(45, 70, 100, 40, 'x', fill=PALE['blue'], sub='ctx=cpu(0)')
    f.box(170, 70, 100, 40, 'net params', fill=PALE['blue'], sub='initialize(ctx=cpu)')
    f.rect(420, 30, 280, 150, fill=PALE['green'], stroke=GREY)
    f.text(560, 48, 'GPU + 显存  GPU memory: mx.gpu(0)', 12, weight='bold')
    f.box(445, 70, 100, 40, 'y', fill=PALE['orange'], sub='ctx=gpu(0)')
    f.box(570, 70, 100, 40, 'net params', fill=PALE['orange'], sub='initialize(ctx=gpu)')
    f.arrow(300, 120, 420, 120)
    f.arrow(420, 145, 300, 145)
    f.text(360, 108, 'copyto / as_in_context', 10)
    f.text(360, 160, 'asnumpy / asscalar (sync)', 10)
    f.text(360, 195, 'x + y 报错：运算的输入必须在同一台设备上  inputs of one op must share a device', 11,
           color=RED)
    return f


FIGURES = {'ch4_block_tree.svg': block_tree, 'ch4_deferred_init.svg': deferred_init,
           'ch4_save_export.svg': save_vs_export, 'ch4_low_rank.svg': low_rank,
           'ch4_devices.svg': devices}

if __name__ == '__main__':
    main(FIGURES, __doc__)
