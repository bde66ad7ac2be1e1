"""Diagrams of chapter 3 (supervised learning): the networks, scratch vs Gluon, model capacity,
data size, weight decay, dropout's sub-networks, K-fold cross-validation.
Run: python content/figures/draw_ch3.py [--out DIR]"""
import math

from svgfig import BLUE, GREEN, GREY, INK, ORANGE, PALE, RED, Axes, Figure, main, network


def linreg_neuron():
    f = Figure(600, 200, 'Linear regression as a one-neuron network / 线性回归是单个神经元')
    c = network(f, [2, 1], 90, 100, 250, radius=22, gap=90,
                colors=[PALE['blue'], PALE['orange']])
    (x1, x2), (o,) = c
    f.text(x1[0], x1[1], 'x₁', 14)
    f.text(x2[0], x2[1], 'x₂', 14)
    f.text(o[0], o[1], 'ŷ', 15)
    f.text(215, 58, 'w₁', 13, color=BLUE)
    f.text(215, 142, 'w₂', 13, color=BLUE)
    f.text(o[0] + 36, o[1], 'ŷ = x₁w₁ + x₂w₂ + b', 13, anchor='start')
    f.text(90, 185, '输入层 inputs', 12)
    f.text(340, 185, '输出层 output', 12)
    return f


def softmax_net():
    f = Figure(560, 250, 'Softmax regression: 784 inputs, 10 outputs / softmax 回归')
    c = network(f, [5, 3], 80, 120, 200, radius=16, gap=40,
                colors=[PALE['blue'], PALE['orange']])
    for k, (x, y) in enumerate(c[0]):
        f.text(x, y, ['x₁', 'x₂', '⋮', 'x₇₈₃', 'x₇₈₄'][k], 10)
    for k, (x, y) in enumerate(c[1]):
        f.text(x, y, ['o₁', '⋮', 'o₁₀'][k], 10)
    f.box(330, 95, 90, 50, 'softmax', fill=PALE['green'], sub='→ 概率 probs')
    f.arrow(296, 120, 330, 120)
    f.text(490, 110, 'ŷ₁ … ŷ₁₀', 13)
    f.text(490, 132, '和为 1  sum to 1', 11, color='#555555')
    f.arrow(420, 120, 445, 120)
    f.text(20, 232, '28×28 像素拉直  flattened pixels', 12, anchor='start')
    f.text(250, 232, '全连接 fully connected: 784×10 权重', 12, anchor='start')
    return f


def mlp_net():
    f = Figure(560, 280, 'A multilayer perceptron with one hidden layer / 多层感知机')
    network(f, [4, 5, 3], 90, 130, 190, radius=15, gap=42,
            colors=[PALE['blue'], PALE['green'], PALE['orange']],
            labels=['输入层 inputs (784)', '隐藏层 hidden (256, ReLU)', '输出层 outputs (10)'])
    f.text(185, 22, 'H = relu(X W₁ + b₁)', 13, color=GREEN)
    f.text(375, 22, 'O = H W₂ + b₂', 13, color=ORANGE)
    return f


def scratch_vs_gluon():
    f = Figure(640, 250, 'What Gluon replaces / Gluon 替我们写好了什么')
    rows = [('shuffled_batches(X, y, n)  小批量', 'gluon.data.DataLoader'),
            ('predict: nd.dot(X, w) + b  模型', 'nn.Dense(1)'),
            ('half_squared_error  损失', 'gluon.loss.L2Loss()'),
            ('sgd_step: p[:] -= lr * grad / n  优化', 'gluon.Trainer(..., "sgd")')]
    f.text(150, 20, '从零开始  from scratch', 13, weight='bold')
    f.text(490, 20, '使用 Gluon  with Gluon', 13, weight='bold')
    for k, (left, right) in enumerate(rows):
        y = 40 + 50 * k
        f.box(20, y, 260, 38, left, fill=PALE['orange'], size=12)
        f.box(360, y, 260, 38, right, fill=PALE['green'], size=12)
        f.arrow(280, y + 19, 360, y + 19)
    return f


def capacity_curve():
    f = Figure(600, 320, 'Model capacity vs error / 模型复杂度与误差')
    ax = Axes(f, 70, 50, 470, 200, (0, 10), (0, 1.1))
    ax.frame('模型复杂度  model capacity', '误差 error')
    xs = [0.1 * k for k in range(3, 100)]
    train = [0.05 + 0.9 * math.exp(-0.42 * x) for x in xs]
    gen = [t + 0.012 * x * x * 0.55 + 0.04 for t, x in zip(train, xs)]
    best = min(range(len(xs)), key=lambda k: gen[k])
    bx, by = ax.px(xs[best], gen[best])
    left, _ = ax.px(xs[best] - 1.8, 0)
    right, _ = ax.px(xs[best] + 1.8, 0)
    f.rect(70, 50, left - 70, 200, fill=PALE['blue'], stroke='none', radius=0)
    f.rect(right, 50, 540 - right, 200, fill=PALE['red'], stroke='none', radius=0)
    ax.curve(xs, train, BLUE)
    ax.curve(xs, gen, ORANGE, dash='7,4')
    f.line(bx, by, bx, 250, color=GREY, dash='3,3')
    f.circle(bx, by, 4, fill=ORANGE, stroke=ORANGE)
    f.text(bx, 40, '最合适  just right', 12)
    f.text((70 + left) / 2, 70, '欠拟合', 13, weight='bold')
    f.text((70 + left) / 2, 88, 'underfitting', 11)
    f.text((right + 540) / 2, 70, '过拟合', 13, weight='bold')
    f.text((right + 540) / 2, 88, 'overfitting', 11)
    f.text(470, 232, '训练误差 training', 12, color=BLUE)
    f.text(470, 125, '泛化误差 generalisation', 12, color=ORANGE)
    f.text(300, 300, '差距 = 泛化误差 − 训练误差，随复杂度增大  the gap grows with capacity', 12,
           color='#555555')
    return f


def data_size_curve():
    f = Figure(600, 300, 'Error vs amount of training data / 训练数据量与误差')
    ax = Axes(f, 70, 40, 470, 200, (0, 10), (0, 1.0))
    ax.frame('训练样本数  training samples (log scale)', '误差 error')
    xs = [0.1 * k for k in range(2, 100)]
    floor = 0.3
    train = [floor - 0.28 * math.exp(-0.35 * x) for x in xs]
    test = [floor + 0.65 * math.exp(-0.38 * x) for x in xs]
    _, fy = ax.px(0, floor)
    f.line(70, fy, 540, fy, color=GREY, dash='3,3')
    f.text(545, fy - 12, '噪声下限 noise floor', 11, anchor='end', color='#555555')
    ax.curve(xs, train, BLUE)
    ax.curve(xs, test, ORANGE, dash='7,4')
    f.text(150, 218, '训练误差 training', 12, color=BLUE)
    f.text(170, 70, '测试误差 test', 12, color=ORANGE)
    f.text(300, 285, '数据越多，两条曲线越接近  more data closes the gap', 12, color='#555555')
    return f


def weight_decay():
    f = Figure(600, 300, 'Weight decay pulls the solution towards zero / 权重衰减')
    ox, oy = 180, 200
    f.arrow(40, oy, 340, oy, color=GREY)
    f.arrow(ox, 280, ox, 20, color=GREY)
    f.text(345, oy + 14, 'w₁', 13, anchor='start')
    f.text(ox + 8, 24, 'w₂', 13, anchor='start')
    cx, cy = 300, 105
    for r in (16, 36, 56, 74):
        f.ellipse(cx, cy, r * 1.4, r * 0.75, stroke=ORANGE, width=1.3, angle=-30)
    f.circle(cx, cy, 4, fill=ORANGE, stroke=ORANGE)
    f.text(cx + 10, cy - 14, '只看损失的最优点', 11, anchor='start', color=ORANGE)
    f.circle(ox, oy, 70, fill='none', stroke=BLUE, dash='5,4')
    px, py = ox + 70 * 0.62, oy - 70 * 0.78
    f.circle(px, py, 5, fill=BLUE, stroke=BLUE)
    f.arrow(cx, cy, px + 4, py - 4, color=RED, dash='4,3')
    f.text(ox - 62, oy + 60, '‖w‖² 小的区域', 11, color=BLUE)
    f.text(470, 80, '损失 ℓ(w) 的等高线', 12, color=ORANGE)
    f.text(470, 100, 'contours of the loss', 11, color=ORANGE)
    f.text(470, 150, 'ℓ(w) + λ‖w‖²/2 的最优点', 12, color=BLUE)
    f.text(470, 170, 'optimum with the penalty', 11, color=BLUE)
    f.text(470, 220, 'λ 越大，越靠近原点', 12, color=RED)
    f.text(470, 240, 'larger λ, closer to 0', 11, color=RED)
    return f


def dropout_subnets():
    f = Figure(760, 300, "Dropout samples a sub-network at every step / 丢弃法的子网络")
    layers = [3, 5, 2]
    full = network(f, layers, 40, 130, 80, radius=11, gap=34,
                   colors=[PALE['blue'], PALE['green'], PALE['orange']])
    f.text(120, 250, '完整网络 full network', 12)
    f.text(120, 268, '预测时用它  used to predict', 11, color='#555555')
    f.line(230, 30, 230, 280, color=GREY, dash='4,4')
    samples = [{(1, 0), (1, 3)}, {(1, 1), (1, 2), (1, 4)}, {(1, 4)}]
    for k, dropped in enumerate(samples):
        x0 = 280 + k * 165
        network(f, layers, x0, 130, 60, radius=11, gap=34,
                colors=[PALE['blue'], PALE['green'], PALE['orange']], dropped=dropped)
        f.text(x0 + 60, 250, '第 %d 步  step %d' % (k + 1, k + 1), 12)
        f.text(x0 + 60, 268, '丢弃 %d 个 / %d' % (len(dropped), layers[1]), 11, color=RED)
    f.text(520, 22, '训练时每个小批量随机去掉一些隐藏单元  each minibatch drops random hidden units',
           12, color='#555555')
    del full
    return f


def k_fold():
    f = Figure(620, 250, 'K-fold cross-validation, K = 5 / K 折交叉验证')
    k = 5
    for i in range(k):
        y = 40 + 38 * i
        f.text(60, y + 14, '第 %d 轮' % (i + 1), 12, anchor='end')
        for j in range(k):
            valid = i == j
            f.rect(75 + 90 * j, y, 86, 28, fill=PALE['orange'] if valid else PALE['blue'],
                   stroke=ORANGE if valid else BLUE, radius=3)
            f.text(75 + 90 * j + 43, y + 14, '验证 valid' if valid else '训练 train', 11)
        f.text(540, y + 14, '→ 误差 e%d' % (i + 1), 12, anchor='start')
    f.text(310, 20, '训练集分成 K 份，每份轮流当验证集  each fold validates once', 12,
           color='#555555')
    f.text(310, 240, '验证误差 = (e1 + … + e5) / 5：用它选超参数  pick hyperparameters by it', 12)
    return f


FIGURES = {'ch3_linreg_neuron.svg': linreg_neuron, 'ch3_softmax_net.svg': softmax_net,
           'ch3_mlp_net.svg': mlp_net, 'ch3_scratch_vs_gluon.svg': scratch_vs_gluon,
           'ch3_capacity_curve.svg': capacity_curve, 'ch3_data_size.svg': data_size_curve,
           'ch3_weight_decay.svg': weight_decay, 'ch3_dropout_subnets.svg': dropout_subnets,
           'ch3_k_fold.svg': k_fold}

if __name__ == '__main__':
    main(FIGURES, __doc__)
