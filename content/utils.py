"""Helpers shared by the Gluon Lab tutorials.

Notebooks import it the way the book did:
    import sys; sys.path.insert(0, '..'); import utils
"From scratch" notebooks still write the mechanism they teach themselves; later notebooks reuse
the version kept here.

GLUONLAB_SMALL=1 switches every notebook to its small-data, few-epochs mode (used by CI; a
workshop runs the full version). Notebooks read it as `utils.SMALL`.
"""
import os
import sys

import numpy as np
import mxnet as mx
from mxnet import autograd, gluon, nd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import datasets  # noqa: E402  (lives next to this file)

SMALL = os.environ.get('GLUONLAB_SMALL', '0').strip().lower() not in ('', '0', 'false', 'no')

# In small mode the loaders keep at most this many samples (train, test).
SMALL_FASHION_MNIST = (2000, 500)


def _seed_everything():
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


_seed_everything()

FASHION_MNIST_LABELS = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat',
                        'sandal', 'shirt', 'sneaker', 'bag', 'ankle boot']


def try_gpu(i=0):
    """mx.gpu(i) if MXNet can allocate on it, else mx.cpu() (CPU builds, no GPU, no driver)."""
    # Asking for the count first keeps CPU builds from logging "GPU support is disabled".
    try:
        if mx.context.num_gpus() <= i:
            return mx.cpu()
    except mx.base.MXNetError:  # driver missing or too old for this CUDA build
        return mx.cpu()
    try:
        ctx = mx.gpu(i)
        _ = nd.zeros((1,), ctx=ctx)
        _.wait_to_read()
    except mx.base.MXNetError:
        ctx = mx.cpu()
    return ctx


# ---- Data -------------------------------------------------------------------------------------

class _ResizeLoader:
    """Wraps a DataLoader and resizes each image batch (NCHW) to `size` x `size`.

    Resizing per batch keeps memory small: the full 60000-image set at 224x224 would not fit.
    """

    def __init__(self, loader, size):
        self._loader, self._size = loader, size

    def __len__(self):
        return len(self._loader)

    def __iter__(self):
        for X, y in self._loader:
            yield nd.contrib.BilinearResize2D(X, height=self._size, width=self._size), y


def load_data_fashion_mnist(batch_size, resize=None, num_workers=0):
    """Fashion-MNIST as (train_iter, test_iter) of float32 images in [0, 1], shape (B, 1, H, W).

    Labels are float32 class indices 0..9. In small mode at most SMALL_FASHION_MNIST samples
    are used. num_workers=0 by default: worker processes need a larger /dev/shm.
    """
    def prepare(train, limit):
        images, labels = datasets.load_fashion_mnist(train=train)
        if limit:
            images, labels = images[:limit], labels[:limit]
        X = images.astype(np.float32)[:, None, :, :] / 255
        return gluon.data.ArrayDataset(X, labels.astype(np.float32))

    n_train, n_test = SMALL_FASHION_MNIST if SMALL else (None, None)
    train = gluon.data.DataLoader(prepare(True, n_train), batch_size, shuffle=True,
                                  num_workers=num_workers)
    test = gluon.data.DataLoader(prepare(False, n_test), batch_size, shuffle=False,
                                 num_workers=num_workers)
    if resize:
        return _ResizeLoader(train, resize), _ResizeLoader(test, resize)
    return train, test


def get_fashion_mnist_labels(labels):
    """Text names of numeric Fashion-MNIST labels."""
    return [FASHION_MNIST_LABELS[int(i)] for i in labels]


def load_house_data():
    """The Kaggle house-price CSVs as pandas DataFrames (train, test)."""
    import pandas as pd  # only this loader needs pandas
    train_path, test_path = datasets.house_csv_paths()
    return pd.read_csv(train_path), pd.read_csv(test_path)


def data_iter(batch_size, features, labels, shuffle=True):
    """Minibatches (X, y) of NDArrays in random order: the loop the scratch notebooks write."""
    n = len(features)
    idx = np.arange(n)
    if shuffle:
        np.random.shuffle(idx)
    for i in range(0, n, batch_size):
        j = nd.array(idx[i:min(i + batch_size, n)])
        yield features.take(j), labels.take(j)


# ---- Training ---------------------------------------------------------------------------------

def sgd(params, lr, batch_size):
    """Minibatch SGD in place; gradients are sums over the batch, hence / batch_size."""
    for param in params:
        param[:] = param - lr * param.grad / batch_size


def accuracy(y_hat, y):
    """Fraction of rows of y_hat whose argmax equals y."""
    return (y_hat.argmax(axis=1) == y.astype('float32')).mean().asscalar()


def _split(X, y, ctx):
    return X.as_in_context(ctx), y.as_in_context(ctx)


def evaluate_accuracy(data_iter, net, ctx=None):
    """Accuracy of net over a whole data iterator."""
    ctx = ctx or mx.cpu()
    correct, n = 0.0, 0
    for X, y in data_iter:
        X, y = _split(X, y, ctx)
        correct += (net(X).argmax(axis=1) == y.astype('float32')).sum().asscalar()
        n += y.size
    return correct / n


def train(train_iter, test_iter, net, loss, num_epochs, batch_size=None,
          params=None, lr=None, trainer=None, ctx=None, verbose=True):
    """Train a classifier; returns {'loss': [...], 'train_acc': [...], 'test_acc': [...]}.

    Either pass `trainer` (a gluon.Trainer), or `params`, `lr` and `batch_size` for the
    from-scratch `sgd`. Losses are per-sample means per epoch, so tests can assert learning.
    """
    if trainer is None and (params is None or lr is None or batch_size is None):
        raise ValueError('train() needs either trainer=gluon.Trainer(...) or params, lr and '
                         'batch_size for the from-scratch sgd')
    ctx = ctx or mx.cpu()
    history = {'loss': [], 'train_acc': [], 'test_acc': []}
    for epoch in range(num_epochs):
        loss_sum, acc_sum, n = 0.0, 0.0, 0
        for X, y in train_iter:
            X, y = _split(X, y, ctx)
            with autograd.record():
                y_hat = net(X)
                l = loss(y_hat, y)
            l.backward()
            if trainer is None:
                sgd(params, lr, X.shape[0])
            else:
                trainer.step(X.shape[0])
            loss_sum += l.sum().asscalar()
            acc_sum += (y_hat.argmax(axis=1) == y.astype('float32')).sum().asscalar()
            n += y.size
        test_acc = evaluate_accuracy(test_iter, net, ctx)
        history['loss'].append(loss_sum / n)
        history['train_acc'].append(acc_sum / n)
        history['test_acc'].append(test_acc)
        if verbose:
            print('epoch %d, loss %.4f, train acc %.3f, test acc %.3f'
                  % (epoch + 1, loss_sum / n, acc_sum / n, test_acc))
    return history


# ---- Plotting ---------------------------------------------------------------------------------

def _plt():
    import matplotlib.pyplot as plt  # imported late: notebooks without plots stay fast
    return plt


def _show(plt):
    # Under Agg (CI, scripts) show() only warns; in JupyterLab the inline backend draws.
    if 'agg' not in plt.get_backend().lower():
        plt.show()


def set_figsize(figsize=(3.5, 2.5)):
    _plt().rcParams['figure.figsize'] = figsize


def semilogy(x_vals, y_vals, x_label, y_label, x2_vals=None, y2_vals=None,
             legend=None, figsize=(3.5, 2.5)):
    """Plot y (and optionally y2) against x with a log y axis; returns the figure."""
    plt = _plt()
    set_figsize(figsize)
    fig = plt.figure()
    plt.xlabel(x_label)
    plt.ylabel(y_label)
    plt.semilogy(x_vals, y_vals)
    if x2_vals is not None and y2_vals is not None:
        plt.semilogy(x2_vals, y2_vals, linestyle=':')
    if legend:
        plt.legend(legend)
    _show(plt)
    return fig


def plot(x_vals, ys, x_label, y_label, legend=None, figsize=(3.5, 2.5)):
    """Line plot of one or several y series against x; returns the figure."""
    plt = _plt()
    set_figsize(figsize)
    fig = plt.figure()
    for y in ys:
        plt.plot(x_vals, y)
    plt.xlabel(x_label)
    plt.ylabel(y_label)
    if legend:
        plt.legend(legend)
    _show(plt)
    return fig


def show_fashion_mnist(images, labels):
    """Show a row of Fashion-MNIST images with their text labels; returns the figure."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(images), figsize=(1.2 * len(images), 1.6))
    axes = np.atleast_1d(axes)
    for ax, img, label in zip(axes, images, labels):
        img = img.asnumpy() if hasattr(img, 'asnumpy') else np.asarray(img)
        ax.imshow(img.reshape(img.shape[-2], img.shape[-1]), cmap='gray')
        ax.set_title(label, fontsize=8)
        ax.axis('off')
    _show(plt)
    return fig


# ---- Part 2 (chapters 4-6) ----

def try_all_gpus():
    """Every GPU MXNet can use ([mx.gpu(0), ...]), or [mx.cpu()] when there is none.

    In the lab a container only sees the GPUs assigned to its user (NVIDIA_VISIBLE_DEVICES), so
    this list is "my GPUs", numbered from 0 whatever their numbers on the host are.
    """
    ctxs = []
    for i in range(mx.context.num_gpus()):
        ctx = try_gpu(i)
        if ctx.device_type == 'gpu':
            ctxs.append(ctx)
    return ctxs or [mx.cpu()]


def read_time_machine(max_chars=None):
    """The text of "The Time Machine" (via datasets.py: pre-cache, data root or mirror).

    Line breaks become spaces, as in the book, so that the model sees one long sequence.
    max_chars keeps only the beginning (small mode and quick experiments).
    """
    with open(datasets.time_machine_path(), encoding='utf-8') as f:
        text = f.read()
    text = text.replace('\r\n', ' ').replace('\n', ' ').replace('\r', ' ')
    return text[:max_chars] if max_chars else text


def data_iter_random(corpus_indices, batch_size, num_steps, ctx=None):
    """Random sampling: minibatches (X, Y) of num_steps-long windows, Y is X shifted by one.

    Windows do not overlap and neighbouring batches are not adjacent in the text, so the
    hidden state must be re-initialised for every batch.
    """
    num_examples = (len(corpus_indices) - 1) // num_steps
    epoch_size = num_examples // batch_size
    example_indices = list(range(num_examples))
    np.random.shuffle(example_indices)

    def _data(pos):
        return corpus_indices[pos: pos + num_steps]

    for i in range(epoch_size):
        batch = example_indices[i * batch_size: (i + 1) * batch_size]
        X = [_data(j * num_steps) for j in batch]
        Y = [_data(j * num_steps + 1) for j in batch]
        yield nd.array(X, ctx), nd.array(Y, ctx)


def grad_clipping(params, theta, ctx=None):
    """Scale all gradients down together so that their joint L2 norm is at most theta."""
    norm = nd.array([0.0], ctx or params[0].context)
    for param in params:
        norm += (param.grad ** 2).sum()
    norm = norm.sqrt().asscalar()
    if norm > theta:
        for param in params:
            param.grad[:] *= theta / norm
