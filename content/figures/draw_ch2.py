"""Diagrams of chapter 2 (crash course): rules vs learning, the training loop, the kinds of
problems, training vs test error, broadcasting, a computation graph.
Run: python content/figures/draw_ch2.py [--out DIR]"""
import math

from svgfig import BLUE, GREY, INK, ORANGE, PALE, RED, Axes, Figure, main


def rules_vs_data():
    f = Figure(720, 210, 'Writing rules vs learning from data / 写规则与从数据中学习')
    f.text(180, 20, '传统编程  classic programming', 13, weight='bold')
    f.box(20, 50, 110, 50, '规则', fill=PALE['orange'], sub='rules')
    f.box(20, 120, 110, 50, '输入', fill=PALE['grey'], sub='input')
    f.box(220, 85, 110, 50, '程序', fill=PALE['blue'], sub='program')
    f.arrow(130, 75, 220, 100)
    f.arrow(130, 145, 220, 120)
    f.text(275, 165, '→ 输出 output', 12)
    f.text(540, 20, '机器学习  machine learning', 13, weight='bold')
    f.box(390, 50, 110, 50, '样本 + 答案', fill=PALE['grey'], sub='examples + labels')
    f.box(390, 120, 110, 50, '带参数的模型', fill=PALE['blue'], sub='model with weights')
    f.box(590, 85, 110, 50, '训练好的模型', fill=PALE['green'], sub='trained model')
    f.arrow(500, 75, 590, 100)
    f.arrow(500, 145, 590, 120)
    f.text(545, 190, '训练算法调整参数  training adjusts the weights', 12, color='#555555')
    f.line(360, 30, 360, 190, color=GREY, dash='4,4')
    return f


def training_loop():
    f = Figure(720, 250, 'The training loop / 训练循环')
    nodes = [(40, 95, '一批数据', 'minibatch X, y', PALE['grey']),
             (200, 95, '模型前向', 'y_hat = net(X)', PALE['blue']),
             (360, 95, '损失', 'l = loss(y_hat, y)', PALE['orange']),
             (520, 95, '反向传播', 'l.backward()', PALE['red'])]
    for x, y, zh, en, fill in nodes:
        f.box(x, y, 130, 60, zh, fill=fill, sub=en)
    for k in range(3):
        f.arrow(nodes[k][0] + 130, 125, nodes[k + 1][0], 125)
    f.box(280, 185, 170, 50, '更新参数', fill=PALE['green'], sub='w -= lr * grad')
    f.arrow(585, 155, 450, 210)
    f.arrow(280, 210, 265, 155)
    f.text(360, 30, '重复：每个周期 (epoch) 把训练集过一遍', 13)
    f.text(360, 52, 'repeat; one epoch = one pass over the training set', 12, color='#555555')
    f.text(650, 210, '梯度 gradients', 11, color='#555555')
    return f


def taxonomy():
    f = Figure(720, 260, 'Kinds of machine-learning problems / 机器学习问题的类型')
    f.box(285, 15, 150, 45, '机器学习', fill=PALE['grey'], sub='machine learning')
    tops = [(60, '监督学习', 'supervised', PALE['blue'], [('回归', 'regression'), ('分类', 'classification'),
                                                        ('序列', 'sequences')]),
            (300, '无监督学习', 'unsupervised', PALE['orange'], [('聚类', 'clustering'), ('降维', 'dim. reduction'),
                                                             ('生成', 'generative')]),
            (540, '与环境互动', 'interaction', PALE['green'], [('强化学习', 'reinforcement'),
                                                          ('在线学习', 'online')])]
    for x, zh, en, fill, leaves in tops:
        f.box(x, 95, 130, 50, zh, fill=fill, sub=en)
        f.arrow(360, 60, x + 65, 95)
        for k, (lz, le) in enumerate(leaves):
            lx = x - 25 + k * 62
            f.box(lx, 185, 58, 50, lz, fill='white', size=11, sub=le)
            f.line(x + 65, 145, lx + 29, 185, color=GREY)
    return f


def train_test_error():
    f = Figure(560, 300, 'Training error vs test error / 训练误差与测试误差')
    ax = Axes(f, 70, 40, 440, 200, (0, 10), (0, 1))
    ax.frame('训练周期  epochs', '误差 error')
    xs = [0.25 * k for k in range(1, 41)]
    train = [0.08 + 0.85 * math.exp(-0.45 * x) for x in xs]
    test = [0.2 + 0.75 * math.exp(-0.5 * x) + 0.005 * x * x for x in xs]
    ax.curve(xs, train, BLUE)
    ax.curve(xs, test, ORANGE, dash='7,4')
    best = min(range(len(xs)), key=lambda k: test[k])
    bx, by = ax.px(xs[best], test[best])
    f.line(bx, by, bx, 240, color=GREY, dash='3,3')
    f.text(bx, by - 16, '测试误差最小  lowest test error', 11)
    f.text(470, 205, '训练 train', 12, color=BLUE)
    f.text(470, 95, '测试 test', 12, color=ORANGE)
    return f


def broadcasting():
    f = Figure(640, 190, 'Broadcasting a (3, 1) and a (1, 4) array / 广播')

    def grid(x0, y0, rows, cols, values, fill, ghost=None):
        for r in range(rows):
            for c in range(cols):
                is_ghost = ghost is not None and ghost(r, c)
                f.rect(x0 + 36 * c, y0 + 36 * r, 34, 34, fill='white' if is_ghost else fill,
                       stroke=GREY if is_ghost else INK, dash='3,3' if is_ghost else None, radius=3)
                f.text(x0 + 36 * c + 17, y0 + 36 * r + 17, values(r, c), 13,
                       color=GREY if is_ghost else INK)

    grid(20, 40, 3, 4, lambda r, c: str(10 * r), PALE['blue'], ghost=lambda r, c: c > 0)
    f.text(180, 94, '+', 22)
    grid(200, 40, 3, 4, lambda r, c: str(c), PALE['orange'], ghost=lambda r, c: r > 0)
    f.text(360, 94, '=', 22)
    grid(380, 40, 3, 4, lambda r, c: str(10 * r + c), PALE['green'])
    f.text(90, 165, '(3, 1) 沿列复制', 12)
    f.text(270, 165, '(1, 4) 沿行复制', 12)
    f.text(450, 165, '(3, 4)', 12)
    f.text(320, 20, '虚线格是“复制”出来的，内存里并没有  dashed cells are never stored', 12,
           color='#555555')
    return f


def compute_graph():
    f = Figure(640, 220, 'A computation graph, forward and backward / 计算图')
    nodes = {'w': (60, 70), 'x': (60, 160), 'u': (240, 115), 'y': (400, 115), 'z': (560, 115)}
    labels = {'w': 'w', 'x': 'x', 'u': 'u = w·x', 'y': 'y = u + b', 'z': 'z = y²'}
    for k, (x, y) in nodes.items():
        f.circle(x, y, 34, fill=PALE['blue'] if k in 'wx' else PALE['grey'])
        f.text(x, y, labels[k], 12)
    for a, b in (('w', 'u'), ('x', 'u'), ('u', 'y'), ('y', 'z')):
        (ax, ay), (bx, by) = nodes[a], nodes[b]
        f.arrow(ax, ay, bx, by, gap=36)
    f.arrow(560, 165, 240, 165, color=RED, dash='6,4')
    f.text(400, 185, 'backward(): 链式法则从 z 往回算  chain rule from z back', 12, color=RED)
    f.text(320, 30, 'record() 里记录前向计算  forward pass recorded inside record()', 12,
           color=BLUE)
    return f


FIGURES = {'ch2_rules_vs_data.svg': rules_vs_data, 'ch2_training_loop.svg': training_loop,
           'ch2_taxonomy.svg': taxonomy, 'ch2_train_test_error.svg': train_test_error,
           'ch2_broadcasting.svg': broadcasting, 'ch2_compute_graph.svg': compute_graph}

if __name__ == '__main__':
    main(FIGURES, __doc__)
