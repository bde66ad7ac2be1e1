"""Gluon Lab's helper module for the tutorials (教程共用的辅助函数).

Notebooks sit one folder below this file and import it with
    import sys; sys.path.insert(0, '..'); import utils

What is here, by concern (the notebooks that teach a mechanism write it themselves first; the
later ones call the version kept here):
  mode     SMALL, by_mode(full, small)              GLUONLAB_SMALL=1: small data, few epochs (CI)
  devices  choose_device(i), all_devices()          GPU when MXNet can use one, else CPU
  data     fashion_mnist_loaders, FASHION_CLASSES, class_names, minibatches,
           house_prices, time_machine_text, random_windows, sequential_windows
  training sgd_step, count_correct, classification_accuracy, History, fit, clip_gradients
  plots    set_figure_size, plot_curves, show_images

The files themselves come from datasets.py (pre-cache, data root, mirror, download).
"""
import math
import os
import sys

import numpy as np
import mxnet as mx
from mxnet import autograd, gluon, nd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets  # noqa: E402  (lives next to this file)

SMALL = os.environ.get('GLUONLAB_SMALL', '0').strip().lower() not in ('', '0', 'false', 'no')

# In small mode the Fashion-MNIST loaders keep at most this many samples (train, test).
SMALL_FASHION_MNIST = (2000, 500)


def by_mode(full, small):
    """`small` when GLUONLAB_SMALL=1 (tests), else `full` (workshop): epochs, sizes, folds."""
    return small if SMALL else full


def _seed_from_env():
    # Small mode is for CI: fixed seeds make a failed learning check reproducible.
    # GLUONLAB_SEED picks another seed (also in full mode) to try the same run again.
    seed = os.environ.get('GLUONLAB_SEED')
    if seed is None and not SMALL:
        return
    import random
    seed = int(seed or 0)
    random.seed(seed)
    np.random.seed(seed)
    mx.random.seed(seed)


_seed_from_env()


# ---- Devices ----------------------------------------------------------------------------------

def choose_device(i=0):
    """mx.gpu(i) when a small allocation there succeeds, otherwise mx.cpu().

    CPU builds, machines without a GPU and drivers too old for the CUDA build all end on the
    CPU, so the same notebook runs everywhere.
    """
    try:
        # Counting first keeps CPU builds from logging "GPU support is disabled".
        if mx.context.num_gpus() <= i:
            return mx.cpu()
        probe = nd.ones((1,), ctx=mx.gpu(i))
        probe.wait_to_read()
        return mx.gpu(i)
    except mx.base.MXNetError:
        return mx.cpu()


def all_devices():
    """Every GPU this container may use, numbered from 0; [mx.cpu()] when there is none.

    The lab only shows a user the GPUs assigned to them (NVIDIA_VISIBLE_DEVICES), so this is
    "my GPUs", whatever their numbers on the host are.
    """
    try:
        count = mx.context.num_gpus()
    except mx.base.MXNetError:
        count = 0
    gpus = [d for d in (choose_device(i) for i in range(count)) if d.device_type == 'gpu']
    return gpus or [mx.cpu()]


# ---- Data -------------------------------------------------------------------------------------

FASHION_CLASSES = ('t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                   'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot')


def class_names(labels):
    """Fashion-MNIST class names for numeric labels (NDArray, numpy array or list)."""
    if hasattr(labels, 'asnumpy'):
        labels = labels.asnumpy()
    return [FASHION_CLASSES[int(k)] for k in np.asarray(labels).reshape(-1)]


class _ResizedBatches:
    """Iterates over a DataLoader and resizes every image batch (NCHW) to size x size.

    Per batch, not up front: all 60000 images at 224x224 would not fit in memory.
    """

    def __init__(self, loader, size):
        self.loader, self.size = loader, size

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for images, labels in self.loader:
            yield nd.contrib.BilinearResize2D(images, height=self.size, width=self.size), labels


def _fashion_dataset(train, limit):
    images, labels = datasets.load_fashion_mnist(train=train)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    # uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1]: the layout nn.Conv2D expects.
    pixels = np.expand_dims(images, 1).astype(np.float32) / 255.0
    return gluon.data.ArrayDataset(pixels, labels.astype(np.float32))


def fashion_mnist_loaders(batch_size, resize=None, num_workers=0):
    """(train_loader, test_loader) over Fashion-MNIST: images float32 (B, 1, H, W) in [0, 1],
    labels float32 class indices 0..9. The training loader reshuffles every epoch.

    Small mode keeps SMALL_FASHION_MNIST samples. num_workers=0: worker processes need more
    /dev/shm than a lab container has.
    """
    if batch_size < 1:
        raise ValueError('batch_size must be a positive integer, got %r' % (batch_size,))
    n_train, n_test = SMALL_FASHION_MNIST if SMALL else (None, None)
    loaders = (
        gluon.data.DataLoader(_fashion_dataset(True, n_train), batch_size, shuffle=True,
                              num_workers=num_workers),
        gluon.data.DataLoader(_fashion_dataset(False, n_test), batch_size, shuffle=False,
                              num_workers=num_workers))
    if resize:
        return tuple(_ResizedBatches(loader, resize) for loader in loaders)
    return loaders


def minibatches(features, labels, batch_size, shuffle=True):
    """Yields (X, y) NDArray minibatches that together cover every sample once (last may be short)."""
    if len(features) != len(labels):
        raise ValueError('features has %d rows but labels has %d' % (len(features), len(labels)))
    order = np.random.permutation(len(features)) if shuffle else np.arange(len(features))
    for start in range(0, len(order), batch_size):
        rows = nd.array(order[start:start + batch_size])
        yield features.take(rows), labels.take(rows)


def house_prices():
    """(train, test) pandas DataFrames of the Kaggle house-price competition CSVs."""
    import pandas as pd  # only this loader needs pandas
    train_csv, test_csv = datasets.house_csv_paths()
    return pd.read_csv(train_csv), pd.read_csv(test_csv)


def time_machine_text(max_chars=None):
    """"The Time Machine" as one string, every line break turned into a space.

    max_chars keeps only the beginning (small mode, quick experiments).
    """
    with open(datasets.time_machine_path(), encoding='utf-8') as f:
        text = ' '.join(f.read().splitlines())
    return text[:max_chars] if max_chars else text


def random_windows(corpus, batch_size, num_steps, device=None):
    """Yields (X, Y): batch_size windows of num_steps tokens, Y is X moved on by one token.

    Windows are cut without overlap and drawn in random order, so two batches in a row are
    not neighbours in the text: a recurrent model must reset its state for every batch.
    """
    tokens = np.asarray(corpus)
    n_windows = (len(tokens) - 1) // num_steps
    starts = np.random.permutation(n_windows) * num_steps
    offsets = np.arange(num_steps)
    for first in range(0, n_windows - batch_size + 1, batch_size):
        idx = starts[first:first + batch_size, None] + offsets
        yield nd.array(tokens[idx], ctx=device), nd.array(tokens[idx + 1], ctx=device)


def sequential_windows(corpus, batch_size, num_steps, device=None):
    """Yields (X, Y) where row i of one batch continues row i of the previous batch.

    The text is split into batch_size long strips read side by side, so a recurrent model can
    carry its state from one batch to the next.
    """
    tokens = np.asarray(corpus)
    strip = (len(tokens) - 1) // batch_size
    inputs = tokens[:strip * batch_size].reshape(batch_size, strip)
    targets = tokens[1:strip * batch_size + 1].reshape(batch_size, strip)
    for first in range(0, strip - num_steps + 1, num_steps):
        cols = slice(first, first + num_steps)
        yield nd.array(inputs[:, cols], ctx=device), nd.array(targets[:, cols], ctx=device)


# ---- Training ---------------------------------------------------------------------------------

def sgd_step(params, lr, batch_size):
    """One minibatch SGD update in place. backward() summed the batch's gradients: / batch_size."""
    for p in params:
        p[:] -= (lr / batch_size) * p.grad


def count_correct(y_hat, y):
    """How many rows of the scores y_hat have their largest entry at the label y (a float)."""
    return float((y_hat.argmax(axis=1) == y.astype('float32')).sum().asscalar())


def classification_accuracy(net, loader, device=None):
    """Fraction of the loader's samples that net classifies correctly (prediction mode)."""
    device = device or mx.cpu()
    counts = [(count_correct(net(X.as_in_context(device)), y.as_in_context(device)), y.shape[0])
              for X, y in loader]
    right, seen = (sum(column) for column in zip(*counts)) if counts else (0, 0)
    return right / seen if seen else float('nan')


class History(dict):
    """Per-epoch metrics of a training run: history['loss'][k] is epoch k+1's mean loss."""

    def record(self, **metrics):
        for name, value in metrics.items():
            self.setdefault(name, []).append(float(value))

    @property
    def epochs(self):
        return max((len(v) for v in self.values()), default=0)

    def plot(self, title=None):
        """Loss (left) and every accuracy (right) against the epoch; returns the figure."""
        plt = _pyplot()
        accuracies = [k for k in self if k.endswith('acc')]
        fig, axes = plt.subplots(1, 2 if accuracies else 1, figsize=(7, 2.6), squeeze=False)
        x = list(range(1, self.epochs + 1))
        _draw(axes[0][0], x, {'loss': self.get('loss', [])}, 'epoch', 'loss', False)
        if accuracies:
            _draw(axes[0][1], x, {k: self[k] for k in accuracies}, 'epoch', 'accuracy', False)
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        _display(plt)
        return fig


def fit(net, train_loader, test_loader, loss, num_epochs, trainer=None, params=None, lr=None,
        device=None, log=True, plot=True):
    """Trains a classifier and returns a History with loss, train_acc and test_acc per epoch.

    Update with a gluon.Trainer (trainer=...) or, for the from-scratch notebooks, with
    sgd_step on your own NDArrays (params=[...], lr=...). plot=True draws the curves at the end.
    """
    if (trainer is None) == (params is None):
        raise ValueError('fit() updates the parameters one way: pass trainer=gluon.Trainer(...) '
                         'or params=[NDArrays with attach_grad()] together with lr=...')
    if params is not None and lr is None:
        raise ValueError('fit(params=...) also needs lr=<learning rate> for sgd_step')
    device = device or mx.cpu()
    # One update rule, chosen once: Gluon's Trainer, or our own minibatch SGD on bare NDArrays.
    update = trainer.step if trainer is not None else (lambda n: sgd_step(params, lr, n))
    history = History()
    for epoch in range(1, num_epochs + 1):
        loss_total = right = seen = 0.0
        for batch in train_loader:
            X, y = (part.as_in_context(device) for part in batch)
            with autograd.record():
                scores = net(X)
                losses = loss(scores, y)
            losses.backward()
            update(X.shape[0])
            loss_total += float(losses.sum().asscalar())
            right, seen = right + count_correct(scores, y), seen + y.shape[0]
        history.record(loss=loss_total / seen, train_acc=right / seen,
                       test_acc=classification_accuracy(net, test_loader, device))
        if log:
            print('epoch %2d  loss %.4f  train acc %.3f  test acc %.3f'
                  % (epoch, history['loss'][-1], history['train_acc'][-1], history['test_acc'][-1]))
    if plot:
        history.plot()
    return history


def clip_gradients(params, max_norm):
    """Rescales all gradients together so that their joint L2 norm is at most max_norm.

    params: NDArrays with attach_grad() or gluon Parameters. Returns the norm before clipping.
    """
    grads = [p.grad() if isinstance(p, gluon.Parameter) else p.grad for p in params]
    norm = math.sqrt(sum(float((g * g).sum().asscalar()) for g in grads))
    if norm > max_norm:
        for g in grads:
            g *= max_norm / norm
    return norm


# ---- Plots ------------------------------------------------------------------------------------

def _pyplot():
    import matplotlib.pyplot as plt  # late import: notebooks that draw nothing start faster
    return plt


def _display(plt):
    # The inline backend (JupyterLab) draws here; under Agg (tests, scripts) show() only warns.
    if 'agg' not in plt.get_backend().lower():
        plt.show()


def set_figure_size(width=4.0, height=2.8):
    """Default size, in inches, of the figures drawn afterwards."""
    _pyplot().rcParams['figure.figsize'] = (width, height)


def _draw(ax, x, series, xlabel, ylabel, logy, logx=False):
    for (label, ys), style in zip(series.items(), ('-', '--', ':', '-.') * 4):
        ax.plot(list(x)[:len(ys)], list(ys), style, label=label)
    if logy:
        ax.set_yscale('log')
    if logx:
        ax.set_xscale('log')
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if len(series) > 1:
        ax.legend()
    ax.grid(alpha=0.3)


def plot_curves(x, series, xlabel, ylabel, logy=False, title=None, logx=False):
    """Line plot of one or more curves against x; returns the figure.

    series: a dict {legend label: values}, or one sequence of values (no legend).
    logy=True uses a log y axis (losses that shrink by orders of magnitude); logx likewise.
    """
    if not isinstance(series, dict):
        series = {ylabel: series}
    if not series:
        raise ValueError('plot_curves() needs at least one curve')
    plt = _pyplot()
    fig, ax = plt.subplots()
    _draw(ax, x, series, xlabel, ylabel, logy, logx)
    if title:
        ax.set_title(title)
    _display(plt)
    return fig


def show_images(images, titles=None, ncols=8, scale=1.3):
    """Grayscale images (N, [1,] H, W) in a grid with optional titles; returns the figure."""
    plt = _pyplot()
    if hasattr(images, 'asnumpy'):
        images = images.asnumpy()
    images = np.asarray(images)
    n = len(images)
    ncols = max(1, min(ncols, n))
    nrows = int(math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(scale * ncols, (scale + 0.4) * nrows),
                             squeeze=False)
    for k, ax in enumerate(axes.reshape(-1)):
        ax.axis('off')
        if k < n:
            ax.imshow(images[k].reshape(images[k].shape[-2:]), cmap='gray_r')
            if titles is not None:
                ax.set_title(titles[k], fontsize=8)
    _display(plt)
    return fig
