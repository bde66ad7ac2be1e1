"""Small, learnable stand-ins for the tutorial data sets, written in the real file formats.

CI cannot download Fashion-MNIST, the Kaggle house CSVs or "The Time Machine", so the tests
write files with the same names, layout and encoding, and the real loading code
(content/datasets.py, content/utils.py) reads them. The data are about as hard as the real
ones (confusable classes, noise, wrong labels, outliers), so the notebooks' checks can demand
learning with a margin over a baseline and still fail when a lesson is half broken.

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


# The ten classes as garment silhouettes. Like the real data set, they come in confusable
# groups: tops (t-shirt 0, pullover 2, coat 4, shirt 6) differ only in sleeve length, body
# length and a placket; footwear (sandal 5, sneaker 7, ankle boot 9) in height and straps.
_TOPS = {0: dict(sleeve=6, body=20, placket=False), 2: dict(sleeve=11, body=20, placket=False),
         4: dict(sleeve=12, body=23, placket=True), 6: dict(sleeve=11, body=21, placket=True)}
_SHOES = {5: dict(top=19, straps=True), 7: dict(top=17, straps=False),
          9: dict(top=9, straps=False)}


def _silhouette(label, size=28):
    t = np.zeros((size, size))
    if label in _TOPS:
        c = _TOPS[label]
        t[4:4 + c['body'], 8:20] = 1.0                      # body
        t[4:4 + c['sleeve'], 3:8] = 0.8                     # sleeves
        t[4:4 + c['sleeve'], 20:25] = 0.8
        t[4:6, 11:17] = 0.3                                  # collar
        if c['placket']:
            t[6:4 + c['body'], 13:15] = 0.45                 # button placket
    elif label in _SHOES:
        c = _SHOES[label]
        t[c['top']:24, 6:14] = 0.9                           # shaft / upper
        t[19:24, 6:23] = 0.9                                 # sole and toe
        t[24:25, 5:24] = 1.0
        if c['straps']:
            t[19:24:2, 8:22] = 0.15                          # open straps
    elif label == 1:                                          # trouser: two legs
        t[3:6, 9:19] = 1.0
        t[6:26, 9:13] = 0.9
        t[6:26, 15:19] = 0.9
    elif label == 3:                                          # dress: widens downwards
        for r in range(3, 26):
            half = 3 + (r - 3) // 3
            t[r, 14 - half:14 + half] = 0.85
    elif label == 8:                                          # bag with a handle
        t[10:24, 5:23] = 0.8
        t[5:10, 10:12] = 0.6
        t[5:10, 16:18] = 0.6
        t[5:7, 10:18] = 0.6
    return t


def _templates(size=28):
    return np.stack([_silhouette(k, size) for k in range(10)])


# Each sample is its class's silhouette, blended with a random class of the same group
# (tops with tops, footwear with footwear), shifted, scaled in brightness, with pixel noise;
# a few labels are wrong, as in any hand-labelled set. Small-mode models then reach roughly
# the accuracies the real data gives (about 0.7-0.85), not 0.99.
_GROUPS = [(0, 2, 4, 6), (5, 7, 9), (1, 3), (8, 3)]
LABEL_NOISE = 0.05


def fashion_mnist_arrays(n, seed, noise=0.3):
    """(images uint8 [n, 28, 28], labels uint8 [n]) of garment-like, confusable classes."""
    templates = _templates()
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    group_of = {k: g for g in _GROUPS for k in g}
    images = np.empty((n, 28, 28))
    for k in range(n):
        sibling = rng.choice(group_of[labels[k]])
        mix = rng.uniform(0.0, 0.4)
        img = (1 - mix) * templates[labels[k]] + mix * templates[sibling]
        img = np.roll(img, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
        img *= rng.uniform(0.5, 1.0)
        img += rng.normal(0, noise, size=img.shape) * (img > 0.05)  # texture on the garment
        img += np.abs(rng.normal(0, 0.08, size=img.shape))          # sensor noise everywhere
        images[k] = img
    flip = rng.random(n) < LABEL_NOISE
    labels[flip] = rng.integers(0, 10, size=int(flip.sum()))
    return (np.clip(images, 0, 1) * 255).astype(np.uint8), labels.astype(np.uint8)


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


_NEIGHBOURHOOD_EFFECT = dict(zip(_CAT['Neighborhood'],
                                 np.linspace(-0.2, 0.2, len(_CAT['Neighborhood']))))


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
            # Quality, living area, age, the neighbourhood and central air drive the price;
            # the noise (0.15 in log price) and a few abnormal sales (sold far below value)
            # keep a linear model near the real competition's 0.15-0.2 log RMSE.
            log_price = (12.0 + 0.11 * (qual - 6) + 0.0003 * (area - 1500)
                         + 0.002 * (year - 1970) + _NEIGHBOURHOOD_EFFECT[r['Neighborhood']]
                         + (0.05 if r['CentralAir'] == 'Y' else -0.05) + rng.normal(0, 0.15))
            if rng.random() < 0.02:
                log_price += np.log(rng.uniform(0.4, 0.7))
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
             'filby', 'the very young man', 'the machine', 'the little people', 'weena', 'i',
             'the editor', 'the journalist', 'my friend', 'the silent man', 'we', 'they']
_VERBS = ['looked at', 'spoke of', 'turned to', 'thought of', 'walked towards', 'laughed at',
          'watched', 'remembered', 'told us about', 'pointed at', 'feared', 'searched for',
          'dreamed of', 'touched', 'left', 'described', 'doubted', 'followed']
_ADJECTIVES = ['', '', '', 'strange ', 'old ', 'white ', 'dark ', 'little ', 'great ', 'cold ',
               'quiet ', 'broken ', 'distant ', 'green ', 'curious ']
_OBJECTS = ['fire', 'lamp', 'machine', 'sphinx', 'porcelain', 'wood', 'future', 'dimension',
            'garden', 'stars', 'hall', 'river', 'hill', 'sun', 'door', 'well', 'moon', 'face',
            'table', 'glass', 'shadow', 'century', 'world', 'palace']
_TAILS = ['in the evening', 'with a smile', 'for a long time', 'without a word', 'once more',
          'in silence', 'at last', 'again and again', '', '', '', 'as the light failed',
          'and said nothing', 'while we waited', 'before the dawn', 'with some hesitation']


def time_machine_text(n_sentences=700, seed=3):
    """Generated English prose in the shape of the book's timemachine.txt (not Wells' text).

    A small grammar with optional adjectives, tails and joined clauses: regular enough for a
    character model to learn in a few epochs, varied enough that a unigram model is far worse.
    """
    rng = np.random.default_rng(seed)

    def clause():
        return ' '.join(w for w in (str(rng.choice(_SUBJECTS)), str(rng.choice(_VERBS)),
                                    'the ' + str(rng.choice(_ADJECTIVES)) + str(rng.choice(_OBJECTS)),
                                    str(rng.choice(_TAILS))) if w)

    lines = ['The Time Machine, by H. G. Wells [1898] (generated stand-in for tests)', '', '', 'I', '']
    paragraph = []
    for i in range(n_sentences):
        s = clause() + (', and ' + clause() if rng.random() < 0.3 else '') + '.'
        paragraph.append(s[0].upper() + s[1:])
        if len(paragraph) == int(rng.integers(3, 8)) or i == n_sentences - 1:
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
