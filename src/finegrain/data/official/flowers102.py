"""Oxford Flowers-102 (Nilsback & Zisserman 2008): 102flowers.tgz + imagelabels.mat + setid.mat.

Layout: jpg/image_00001.jpg ..., imagelabels.mat (`labels`, 1..102 per image), setid.mat (`trnid`, `valid`,
`tstid`: 1-based image ids). Official split trn/val/tst = 1020/1020/6149, used as train/val/test.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from finegrain.data.official.common import build_dataset, find_layout, layout_root, load_mat
from finegrain.data.remote import Checksum, RemoteFile
from finegrain.errors import DataError

if TYPE_CHECKING:
    from finegrain.data.config import DataCfg
    from finegrain.data.records import RawDataset

NAME = "flowers102"
BASE_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
_SOURCE = (
    "pytorch/vision torchvision/datasets/flowers102.py @ 50012a1aa01b8dc044bcc15e10471553285a2d71 "
    "(_download_url_prefix, _file_dict md5)"
)
FILES = (
    RemoteFile(
        "102flowers.tgz", BASE_URL + "102flowers.tgz", Checksum("md5", "52808999861908f626f3c1f4e79d11fa"), _SOURCE
    ),
    RemoteFile(
        "imagelabels.mat", BASE_URL + "imagelabels.mat", Checksum("md5", "e0620be6f572b9609742df49c70aed4d"), _SOURCE
    ),
    RemoteFile("setid.mat", BASE_URL + "setid.mat", Checksum("md5", "a5357ecc9cb78c4bef273ce3793fc85c"), _SOURCE),
)
SPLIT_KEYS = {"trnid": "train", "valid": "val", "tstid": "test"}

CLASS_NAMES = (
    # label 1..102 in imagelabels.mat order; from torchvision's Flowers102.classes (same file and commit as FILES)
    "pink primrose",
    "hard-leaved pocket orchid",
    "canterbury bells",
    "sweet pea",
    "english marigold",
    "tiger lily",
    "moon orchid",
    "bird of paradise",
    "monkshood",
    "globe thistle",
    "snapdragon",
    "colt's foot",
    "king protea",
    "spear thistle",
    "yellow iris",
    "globe-flower",
    "purple coneflower",
    "peruvian lily",
    "balloon flower",
    "giant white arum lily",
    "fire lily",
    "pincushion flower",
    "fritillary",
    "red ginger",
    "grape hyacinth",
    "corn poppy",
    "prince of wales feathers",
    "stemless gentian",
    "artichoke",
    "sweet william",
    "carnation",
    "garden phlox",
    "love in the mist",
    "mexican aster",
    "alpine sea holly",
    "ruby-lipped cattleya",
    "cape flower",
    "great masterwort",
    "siam tulip",
    "lenten rose",
    "barbeton daisy",
    "daffodil",
    "sword lily",
    "poinsettia",
    "bolero deep blue",
    "wallflower",
    "marigold",
    "buttercup",
    "oxeye daisy",
    "common dandelion",
    "petunia",
    "wild pansy",
    "primula",
    "sunflower",
    "pelargonium",
    "bishop of llandaff",
    "gaura",
    "geranium",
    "orange dahlia",
    "pink-yellow dahlia?",
    "cautleya spicata",
    "japanese anemone",
    "black-eyed susan",
    "silverbush",
    "californian poppy",
    "osteospermum",
    "spring crocus",
    "bearded iris",
    "windflower",
    "tree poppy",
    "gazania",
    "azalea",
    "water lily",
    "rose",
    "thorn apple",
    "morning glory",
    "passion flower",
    "lotus",
    "toad lily",
    "anthurium",
    "frangipani",
    "clematis",
    "hibiscus",
    "columbine",
    "desert-rose",
    "tree mallow",
    "magnolia",
    "cyclamen",
    "watercress",
    "canna lily",
    "hippeastrum",
    "bee balm",
    "ball moss",
    "foxglove",
    "bougainvillea",
    "camellia",
    "mallow",
    "mexican petunia",
    "bromelia",
    "blanket flower",
    "trumpet creeper",
    "blackberry lily",
)


def read_layout(root: Path) -> RawDataset:
    root = find_layout(root, ("jpg", "imagelabels.mat", "setid.mat"), NAME)
    labels = np.atleast_1d(load_mat(root / "imagelabels.mat", ["labels"])["labels"]).astype(int)
    setid = load_mat(root / "setid.mat", SPLIT_KEYS)
    rows = []
    for key, split in SPLIT_KEYS.items():
        for image_id in np.atleast_1d(setid[key]).astype(int).tolist():
            if not 1 <= image_id <= len(labels):
                raise DataError(
                    f"{NAME}: {root / 'setid.mat'}: {key} names image {image_id}; "
                    f"imagelabels.mat labels {len(labels)} images"
                )
            name = f"image_{image_id:05d}.jpg"
            rows.append((f"jpg/{name}", split, int(labels[image_id - 1]), root / "jpg" / name, None))
    return build_dataset(NAME, dict(enumerate(CLASS_NAMES, 1)), rows)


def read(cfg: DataCfg, raw_dir: Path) -> RawDataset:
    return read_layout(layout_root(cfg, raw_dir))
