"""Small, learnable stand-ins for the tutorial data sets, written in the real file formats.

CI cannot download Fashion-MNIST, the Kaggle house CSVs or "The Time Machine", so the tests
write files with the same names, layout and encoding, and the real loading code
(content/datasets.py, content/utils.py) reads them. The data carry a learnable signal so that
training notebooks can be checked for learning, not just for running.

Layout produced under `root` (the value for GLUONLAB_DATA_DIR):
  fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
  kaggle-house/kaggle_house_pred_{train,test}.csv
  timemachine/timemachine.txt

Usage: python tests/content/fakedata.py DIR   (or write_all(DIR) from Python)
"""
import csv
import gzip
import os
import struct
import sys

import numpy as np

# ---- Fashion-MNIST (IDX, gzip) ----------------------------------------------------------------


def write_idx(path, array):
    """Write a uint8 array as an IDX file (gzip'd when path ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack('>BBBB', 0, 0, 0x08, array.ndim)
    header += struct.pack('>' + 'I' * array.ndim, *array.shape)
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'wb') as f:
        f.write(header + array.tobytes())


def _class_templates(rng, num_classes=10, size=28):
    """One smooth random pattern per class (blurred noise), scaled to 0..1."""
    templates = []
    for _ in range(num_classes):
        t = rng.random((size // 4, size // 4))
        t = np.kron(t, np.ones((4, 4)))  # blocky, then smoothed: shapes a linear model can tell apart
        t = (t + np.roll(t, 1, 0) + np.roll(t, 1, 1) + np.roll(t, -1, 0) + np.roll(t, -1, 1)) / 5
        t = (t - t.min()) / (t.max() - t.min())
        # Dark background and a bright object, like the real photos (mostly-zero pixels).
        t = np.where(t > 0.6, t, 0.0)
        t[:2], t[-2:], t[:, :2], t[:, -2:] = 0, 0, 0, 0
        templates.append(t)
    return np.stack(templates)


def fashion_mnist_arrays(n, seed, noise=0.3):
    """(images uint8 [n, 28, 28], labels uint8 [n]) with class-dependent patterns plus noise."""
    templates = _class_templates(np.random.default_rng(1234))  # same classes for train and test
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    brightness = rng.uniform(0.6, 1.0, size=(n, 1, 1))
    # Noise only on the object: the background stays black, as in Fashion-MNIST.
    images = templates[labels] * (brightness + rng.normal(0, noise, size=(n, 28, 28)))
    # Objects sit at slightly different places and a faint second object overlaps, so
    # accuracy stays below 100% and the models have something to learn over several epochs.
    for k in range(n):
        images[k] = np.roll(images[k], tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
    images += 0.2 * templates[rng.integers(0, 10, size=n)] * brightness
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels


def write_fashion_mnist(root, n_train=2000, n_test=500):
    d = os.path.join(root, 'fashion-mnist')
    os.makedirs(d, exist_ok=True)
    for prefix, n, seed in (('train', n_train, 1), ('t10k', n_test, 2)):
        images, labels = fashion_mnist_arrays(n, seed)
        write_idx(os.path.join(d, prefix + '-images-idx3-ubyte.gz'), images)
        write_idx(os.path.join(d, prefix + '-labels-idx1-ubyte.gz'), labels)
    return d


# ---- Kaggle house prices (CSV) -----------------------------------------------------------------

# The 81 columns of kaggle_house_pred_train.csv in their real order; None = numeric,
# a tuple = categorical values. The test file has the same columns without SalePrice.
_CAT = {
    'MSZoning': ('RL', 'RM', 'FV', 'RH', 'C (all)'), 'Street': ('Pave', 'Grvl'),
    'Alley': ('Grvl', 'Pave'), 'LotShape': ('Reg', 'IR1', 'IR2', 'IR3'),
    'LandContour': ('Lvl', 'Bnk', 'HLS', 'Low'), 'Utilities': ('AllPub', 'NoSeWa'),
    'LotConfig': ('Inside', 'Corner', 'CulDSac', 'FR2', 'FR3'), 'LandSlope': ('Gtl', 'Mod', 'Sev'),
    'Neighborhood': ('CollgCr', 'Veenker', 'Crawfor', 'NoRidge', 'Mitchel', 'Somerst', 'NWAmes',
                     'OldTown', 'BrkSide', 'Sawyer', 'NridgHt', 'NAmes', 'SawyerW', 'IDOTRR'),
    'Condition1': ('Norm', 'Feedr', 'PosN', 'Artery', 'RRAe'), 'Condition2': ('Norm', 'Artery'),
    'BldgType': ('1Fam', '2fmCon', 'Duplex', 'TwnhsE', 'Twnhs'),
    'HouseStyle': ('2Story', '1Story', '1.5Fin', '1.5Unf', 'SFoyer', 'SLvl'),
    'RoofStyle': ('Gable', 'Hip', 'Gambrel', 'Mansard', 'Flat'),
    'RoofMatl': ('CompShg', 'WdShngl', 'Metal', 'Tar&Grv'),
    'Exterior1st': ('VinylSd', 'MetalSd', 'Wd Sdng', 'HdBoard', 'BrkFace', 'Plywood'),
    'Exterior2nd': ('VinylSd', 'MetalSd', 'Wd Shng', 'HdBoard', 'Plywood', 'Wd Sdng'),
    'MasVnrType': ('BrkFace', 'Stone', 'BrkCmn'), 'ExterQual': ('Gd', 'TA', 'Ex', 'Fa'),
    'ExterCond': ('TA', 'Gd', 'Fa', 'Po'), 'Foundation': ('PConc', 'CBlock', 'BrkTil', 'Wood'),
    'BsmtQual': ('Gd', 'TA', 'Ex', 'Fa'), 'BsmtCond': ('TA', 'Gd', 'Fa', 'Po'),
    'BsmtExposure': ('No', 'Gd', 'Mn', 'Av'),
    'BsmtFinType1': ('GLQ', 'ALQ', 'Unf', 'Rec', 'BLQ', 'LwQ'),
    'BsmtFinType2': ('Unf', 'BLQ', 'ALQ', 'Rec', 'LwQ', 'GLQ'),
    'Heating': ('GasA', 'GasW', 'Grav', 'Wall'), 'HeatingQC': ('Ex', 'Gd', 'TA', 'Fa'),
    'CentralAir': ('Y', 'N'), 'Electrical': ('SBrkr', 'FuseF', 'FuseA', 'FuseP'),
    'KitchenQual': ('Gd', 'TA', 'Ex', 'Fa'), 'Functional': ('Typ', 'Min1', 'Maj1', 'Min2', 'Mod'),
    'FireplaceQu': ('TA', 'Gd', 'Fa', 'Ex', 'Po'),
    'GarageType': ('Attchd', 'Detchd', 'BuiltIn', 'CarPort', 'Basment', '2Types'),
    'GarageFinish': ('RFn', 'Unf', 'Fin'), 'GarageQual': ('TA', 'Fa', 'Gd', 'Ex', 'Po'),
    'GarageCond': ('TA', 'Fa', 'Gd', 'Po', 'Ex'), 'PavedDrive': ('Y', 'N', 'P'),
    'PoolQC': ('Ex', 'Fa', 'Gd'), 'Fence': ('MnPrv', 'GdWo', 'GdPrv', 'MnWw'),
    'MiscFeature': ('Shed', 'Gar2', 'Othr'), 'SaleType': ('WD', 'New', 'COD', 'ConLD', 'ConLI'),
    'SaleCondition': ('Normal', 'Abnorml', 'Partial', 'AdjLand', 'Alloca', 'Family'),
}
HOUSE_COLUMNS = [
    'Id', 'MSSubClass', 'MSZoning', 'LotFrontage', 'LotArea', 'Street', 'Alley', 'LotShape',
    'LandContour', 'Utilities', 'LotConfig', 'LandSlope', 'Neighborhood', 'Condition1',
    'Condition2', 'BldgType', 'HouseStyle', 'OverallQual', 'OverallCond', 'YearBuilt',
    'YearRemodAdd', 'RoofStyle', 'RoofMatl', 'Exterior1st', 'Exterior2nd', 'MasVnrType',
    'MasVnrArea', 'ExterQual', 'ExterCond', 'Foundation', 'BsmtQual', 'BsmtCond', 'BsmtExposure',
    'BsmtFinType1', 'BsmtFinSF1', 'BsmtFinType2', 'BsmtFinSF2', 'BsmtUnfSF', 'TotalBsmtSF',
    'Heating', 'HeatingQC', 'CentralAir', 'Electrical', '1stFlrSF', '2ndFlrSF', 'LowQualFinSF',
    'GrLivArea', 'BsmtFullBath', 'BsmtHalfBath', 'FullBath', 'HalfBath', 'BedroomAbvGr',
    'KitchenAbvGr', 'KitchenQual', 'TotRmsAbvGrd', 'Functional', 'Fireplaces', 'FireplaceQu',
    'GarageType', 'GarageYrBlt', 'GarageFinish', 'GarageCars', 'GarageArea', 'GarageQual',
    'GarageCond', 'PavedDrive', 'WoodDeckSF', 'OpenPorchSF', 'EnclosedPorch', '3SsnPorch',
    'ScreenPorch', 'PoolArea', 'PoolQC', 'Fence', 'MiscFeature', 'MiscVal', 'MoSold', 'YrSold',
    'SaleType', 'SaleCondition', 'SalePrice',
]
# Columns that are mostly missing ("NA") in the real data; the tutorial must cope with them.
_MOSTLY_NA = {'Alley': 0.9, 'PoolQC': 0.95, 'Fence': 0.8, 'MiscFeature': 0.95,
              'FireplaceQu': 0.45, 'MasVnrType': 0.5}
_SOME_NA = {'LotFrontage': 0.15, 'GarageYrBlt': 0.05, 'MasVnrArea': 0.01, 'BsmtQual': 0.03}


def house_rows(n, first_id, rng, with_price):
    rows = []
    for i in range(n):
        qual = int(rng.integers(1, 11))
        area = int(np.clip(rng.normal(1500, 450), 400, 4500))
        year = int(rng.integers(1880, 2010))
        r = {}
        for col in HOUSE_COLUMNS:
            if col in _CAT:
                r[col] = _CAT[col][int(rng.integers(len(_CAT[col])))]
            else:
                r[col] = int(rng.integers(0, 1000))
        r.update({
            'Id': first_id + i, 'MSSubClass': int(rng.choice([20, 30, 50, 60, 70, 90, 120, 160])),
            'LotFrontage': int(np.clip(rng.normal(70, 20), 21, 300)), 'LotArea': int(rng.lognormal(9.1, 0.4)),
            'OverallQual': qual, 'OverallCond': int(rng.integers(1, 10)), 'YearBuilt': year,
            'YearRemodAdd': max(year, int(rng.integers(1950, 2011))), 'GrLivArea': area,
            '1stFlrSF': int(area * 0.6), '2ndFlrSF': area - int(area * 0.6), 'LowQualFinSF': 0,
            'TotalBsmtSF': int(area * rng.uniform(0.5, 1.0)), 'GarageCars': int(rng.integers(0, 4)),
            'GarageYrBlt': year, 'MoSold': int(rng.integers(1, 13)), 'YrSold': int(rng.integers(2006, 2011)),
            'PoolArea': 0, 'MiscVal': 0, 'FullBath': int(rng.integers(1, 4)),
            'BedroomAbvGr': int(rng.integers(1, 6)), 'KitchenAbvGr': 1,
            'TotRmsAbvGrd': int(rng.integers(3, 12)), 'Fireplaces': int(rng.integers(0, 3)),
        })
        r['GarageArea'] = r['GarageCars'] * int(rng.integers(200, 300))
        for col, p in list(_MOSTLY_NA.items()) + list(_SOME_NA.items()):
            if rng.random() < p:
                r[col] = 'NA'
        if with_price:
            # Price grows with quality, living area and age: a signal a small net can fit.
            log_price = (12.0 + 0.12 * (qual - 6) + 0.00035 * (area - 1500)
                         + 0.002 * (year - 1970) + rng.normal(0, 0.08))
            r['SalePrice'] = int(np.exp(log_price))
        else:
            r.pop('SalePrice')
        rows.append(r)
    return rows


def write_house(root, n_train=1000, n_test=500):
    d = os.path.join(root, 'kaggle-house')
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(7)
    for name, n, first, price in (('kaggle_house_pred_train.csv', n_train, 1, True),
                                  ('kaggle_house_pred_test.csv', n_test, 1461, False)):
        cols = HOUSE_COLUMNS if price else HOUSE_COLUMNS[:-1]
        with open(os.path.join(d, name), 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=cols, lineterminator='\n')
            w.writeheader()
            w.writerows(house_rows(n, first, rng, price))
    return d


# ---- "The Time Machine" stand-in (plain text) --------------------------------------------------

_SUBJECTS = ['the time traveller', 'the psychologist', 'the medical man', 'the provincial mayor',
             'filby', 'the very young man', 'the machine', 'the little people', 'weena', 'i']
_VERBS = ['looked at', 'spoke of', 'turned to', 'thought of', 'walked towards', 'laughed at',
          'watched', 'remembered', 'told us about', 'pointed at']
_OBJECTS = ['the fire', 'the lamp', 'the strange machine', 'the white sphinx', 'the green porcelain',
            'the dark wood', 'the future', 'the fourth dimension', 'the old garden', 'the stars']
_TAILS = ['in the evening', 'with a smile', 'for a long time', 'without a word', 'once more',
          'in silence', 'at last', 'again and again']


def time_machine_text(n_sentences=600, seed=3):
    """Generated English prose in the shape of the book's timemachine.txt (not Wells' text)."""
    rng = np.random.default_rng(seed)
    lines = ['The Time Machine, by H. G. Wells [1898] (generated stand-in for tests)', '', '', 'I', '']
    paragraph = []
    for i in range(n_sentences):
        s = '%s %s %s %s.' % tuple(rng.choice(x) for x in (_SUBJECTS, _VERBS, _OBJECTS, _TAILS))
        paragraph.append(s[0].upper() + s[1:])
        if len(paragraph) == 6 or i == n_sentences - 1:
            lines += [' '.join(paragraph), '']
            paragraph = []
    return '\n'.join(lines) + '\n'


def write_time_machine(root):
    d = os.path.join(root, 'timemachine')
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'timemachine.txt'), 'w') as f:
        f.write(time_machine_text())
    return d


def write_all(root):
    """Write every generated data set under root; returns root."""
    write_fashion_mnist(root)
    write_house(root)
    write_time_machine(root)
    return root


if __name__ == '__main__':
    if len(sys.argv) != 2 or sys.argv[1] in ('-h', '--help'):
        print('usage: python tests/content/fakedata.py DIR  (writes generated data sets into DIR)')
        sys.exit(0 if len(sys.argv) == 2 else 2)
    print(write_all(sys.argv[1]))
