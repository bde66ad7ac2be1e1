"""Diagrams of chapter 1 (preface): how a section is built, how the lab serves a notebook,
what a GPU's numbers mean. Run: python content/figures/draw_ch1.py [--out DIR]"""
from svgfig import BLUE, GREEN, GREY, INK, ORANGE, PALE, Axes, Figure, main


def section_flow():
    f = Figure(720, 150, 'How a section is built / 每一节的结构')
    steps = [('概念', 'idea', PALE['blue']), ('从零实现', 'from scratch', PALE['orange']),
             ('Gluon 实现', 'with Gluon', PALE['green']), ('小实验', 'experiment', PALE['grey']),
             ('练习', 'exercises', PALE['red'])]
    for k, (zh, en, fill) in enumerate(steps):
        x = 20 + k * 140
        f.box(x, 45, 115, 60, zh, fill=fill, sub=en)
        if k:
            f.arrow(x - 25, 75, x, 75)
    f.text(360, 20, '先弄懂机制，再学会简洁地写  understand the mechanism, then write it briefly', 13)
    f.text(360, 130, '每个代码单元格都可以运行、修改、再运行  every cell runs, change it and run again',
           12, color='#555555')
    return f


def lab_layout():
    f = Figure(720, 230, 'Gluon Lab: where a notebook runs / 笔记本在哪里运行')
    f.box(20, 85, 130, 60, '浏览器', fill=PALE['grey'], sub='your browser')
    f.box(210, 85, 140, 60, 'JupyterHub', fill=PALE['blue'], sub='登录 / login')
    f.rect(410, 20, 290, 190, fill='white', stroke=GREY, dash='5,4')
    f.text(555, 38, '你自己的容器  your own container', 12, color='#555555')
    f.box(430, 55, 120, 55, 'JupyterLab', fill=PALE['green'], sub='tutorials/')
    f.box(430, 130, 120, 55, 'MXNet 内核', fill=PALE['orange'], sub='kernel')
    f.box(580, 55, 100, 55, '家目录', fill=PALE['grey'], sub='home (kept)')
    f.box(580, 130, 100, 55, 'GPU', fill=PALE['red'], sub='if assigned')
    f.arrow(150, 115, 210, 115)
    f.arrow(350, 115, 430, 85)
    f.arrow(490, 110, 490, 130)
    f.arrow(550, 157, 580, 157)
    f.arrow(550, 82, 580, 82)
    f.text(180, 100, 'HTTPS', 11, color='#555555')
    return f


# (name, FP32 TFLOPS, memory GB, bandwidth GB/s) from the table in buy_gpu.md.
GPUS = [('GTX 1080 Ti', 11.3, 11, 484), ('V100', 15.7, 32, 900), ('RTX 3090', 35.6, 24, 936),
        ('A100', 19.5, 80, 2039), ('RTX 4090', 82.6, 24, 1008), ('L4', 30.3, 24, 300),
        ('H100', 67.0, 80, 3350), ('H200', 67.0, 141, 4800)]


def gpu_bars():
    f = Figure(720, 300, 'FP32 compute vs memory bandwidth / 算力与显存带宽')
    ax = Axes(f, 70, 40, 600, 200, (0, len(GPUS)), (0, 1))
    ax.frame('', '')
    f.text(70, 22, '相对最大值  relative to the largest', 12, anchor='start')
    top_flops = max(g[1] for g in GPUS)
    top_bw = max(g[3] for g in GPUS)
    for k, (name, flops, _, bw) in enumerate(GPUS):
        x_left, _ = ax.px(k + 0.15, 0)
        for j, (value, color) in enumerate(((flops / top_flops, ORANGE), (bw / top_bw, BLUE))):
            x = x_left + j * 26
            _, y = ax.px(0, value)
            f.rect(x, y, 24, 240 - y, fill=color, stroke=color, radius=1)
        f.text(x_left + 25, 255, name, 11)
    f.rect(420, 270, 14, 14, fill=ORANGE, stroke=ORANGE, radius=1)
    f.text(440, 277, 'FP32 TFLOPS', 12, anchor='start')
    f.rect(550, 270, 14, 14, fill=BLUE, stroke=BLUE, radius=1)
    f.text(570, 277, '带宽 bandwidth', 12, anchor='start')
    f.text(70, 280, '数据中心的卡赢在带宽和显存  data-centre cards win on bandwidth',
           12, anchor='start', color=INK)
    return f


FIGURES = {'ch1_section_flow.svg': section_flow, 'ch1_lab_layout.svg': lab_layout,
           'ch1_gpu_bars.svg': gpu_bars}

if __name__ == '__main__':
    main(FIGURES, __doc__)
