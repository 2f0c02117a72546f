"""Tiny fixtures in the official formats of each dataset, and a real HTTP server (with Range) to serve them.

`build(name)` returns {file name: bytes} with exactly the registry's file names for that dataset (archives as
tgz/tar, .mat via scipy.io.savemat, text lists, VOC XML) plus what a reader should see (`EXPECT`).
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import tarfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat

W, H = 24, 20


def image_bytes(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (W, H)) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def mat_bytes(variables: dict) -> bytes:
    buf = io.BytesIO()
    savemat(buf, variables)
    return buf.getvalue()


def cell(strings: list[str]) -> np.ndarray:
    """A MATLAB N x 1 cell array of strings, as the official .mat lists hold them."""
    out = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        out[i, 0] = s
    return out


def tar_bytes(members: dict[str, bytes], gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        for name in sorted(members):
            info = tarfile.TarInfo(name)
            info.size = len(members[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(members[name]))
    return buf.getvalue()


def voc_xml(filename: str, boxes: list[tuple[int, int, int, int]], name: str = "dog") -> bytes:
    objects = "".join(
        f"<object><name>{name}</name><pose>Frontal</pose><truncated>0</truncated><difficult>0</difficult>"
        f"<bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin><xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>"
        for x0, y0, x1, y1 in boxes
    )
    return (
        f"<annotation><folder>f</folder><filename>{filename}</filename><size><width>{W}</width>"
        f"<height>{H}</height><depth>3</depth></size><segmented>0</segmented>{objects}</annotation>"
    ).encode()


def _flowers102() -> dict[str, bytes]:
    labels = [1, 5, 102] * 4  # images 1..12; ids 1, 5 and 102 -> labels 0, 1, 2
    jpgs = {f"jpg/image_{i:05d}.jpg": image_bytes(i) for i in range(1, 13)}
    return {
        "102flowers.tgz": tar_bytes(jpgs),
        "imagelabels.mat": mat_bytes({"labels": np.array([labels], dtype=np.uint8)}),
        "setid.mat": mat_bytes(
            {
                "trnid": np.array([[1, 2, 3, 4]], dtype=np.uint16),
                "valid": np.array([[5, 6, 7, 8]], dtype=np.uint16),
                "tstid": np.array([[9, 10, 11, 12]], dtype=np.uint16),
            }
        ),
    }


def _flower_photos() -> dict[str, bytes]:
    members = {"flower_photos/LICENSE.txt": b"CC-BY 2.0 attributions\n"}
    for c, cls in enumerate(("daisy", "roses", "tulips")):
        for i in range(4):
            members[f"flower_photos/{cls}/{c}{i}.jpg"] = image_bytes(100 + 10 * c + i)
    return {"flower_photos.tgz": tar_bytes(members)}


CUB_CLASSES = ("001.Black_footed_Albatross", "002.Laysan_Albatross", "017.Cardinal")


def _cub200() -> dict[str, bytes]:
    base = "CUB_200_2011/"
    members, images, labels, split, boxes = {"attributes.txt": b"1 has_bill_shape::curved\n"}, [], [], [], []
    image_id = 0
    for c, cls in enumerate(CUB_CLASSES):
        class_id = int(cls.split(".")[0])
        for i in range(5):
            image_id += 1
            rel = f"{cls}/{cls.split('.')[1]}_{i:04d}_{image_id}.jpg"
            members[base + "images/" + rel] = image_bytes(200 + image_id)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {class_id}")
            split.append(f"{image_id} {0 if i == 4 else 1}")
            boxes.append(f"{image_id} {1.0 + c} 2.0 10.5 8.0")  # x y w h
    members[base + "images.txt"] = "\n".join(images).encode() + b"\n"
    members[base + "image_class_labels.txt"] = "\n".join(labels).encode() + b"\n"
    members[base + "train_test_split.txt"] = "\n".join(split).encode() + b"\n"
    members[base + "bounding_boxes.txt"] = "\n".join(boxes).encode() + b"\n"
    members[base + "classes.txt"] = "\n".join(f"{int(c.split('.')[0])} {c}" for c in CUB_CLASSES).encode() + b"\n"
    return {"CUB_200_2011.tgz": tar_bytes(members)}


DOG_BREEDS = ("n02085620-Chihuahua", "n02088364-beagle", "n02099601-golden_retriever")


def _stanford_dogs() -> dict[str, bytes]:
    images, annotations, lists = {}, {}, {"train": ([], [], []), "test": ([], [], [])}
    for c, folder in enumerate(DOG_BREEDS):
        synset = folder.split("-")[0]
        for i in range(5):
            stem = f"{folder}/{synset}_{i}"
            images[f"Images/{stem}.jpg"] = image_bytes(300 + 10 * c + i)
            if not (c == 2 and i == 1):  # one image without its annotation file -> box None
                boxes = [(2, 3, 12, 11)] + ([(10, 1, 20, 15)] if i == 0 else [])  # image 0: two dogs
                annotations[f"Annotation/{stem}"] = voc_xml(f"{synset}_{i}", boxes)
            files, annots, labels = lists["test" if i == 4 else "train"]
            files.append(f"{stem}.jpg")
            annots.append(stem)
            labels.append(c + 1)
    mats = {
        f"{split}_list.mat": mat_bytes(
            {"file_list": cell(f), "annotation_list": cell(a), "labels": np.array(lab, dtype=np.uint8)[:, None]}
        )
        for split, (f, a, lab) in lists.items()
    }
    all_files = lists["train"][0] + lists["test"][0]
    mats["file_list.mat"] = mat_bytes({"file_list": cell(all_files)})
    return {
        "images.tar": tar_bytes(images, gz=False),
        "annotation.tar": tar_bytes(annotations, gz=False),
        "lists.tar": tar_bytes(mats, gz=False),
    }


CINIC_CLASSES = ("airplane", "cat", "truck")


def _cinic10() -> dict[str, bytes]:
    members = {"README.md": b"CINIC-10\n", "synsets-to-cifar-10-classes.txt": b"airplane: n02691156\n"}
    for s, split in enumerate(("train", "valid", "test")):
        for c, cls in enumerate(CINIC_CLASSES):
            for i in range(2):
                members[f"{split}/{cls}/cifar10-{split}-{c}{i}.png"] = image_bytes(
                    400 + 20 * s + 5 * c + i, "PNG", (8, 8)
                )
    return {"CINIC-10.tar.gz": tar_bytes(members)}


PET_BREEDS = (("Abyssinian", 1, 1, 1), ("american_bulldog", 2, 2, 1), ("Bengal", 6, 1, 2))


def _oxford_pets() -> dict[str, bytes]:
    images = {"images/Abyssinian_1.mat": b"stray file of the official archive"}
    annotations = {}
    trainval, test = [], []
    for c, (breed, class_id, species, breed_id) in enumerate(PET_BREEDS):
        for i in range(1, 7):
            name = f"{breed}_{i}"
            images[f"images/{name}.jpg"] = image_bytes(500 + 10 * c + i)
            line = f"{name} {class_id} {species} {breed_id}"
            (test if i > 4 else trainval).append(line)
            if i <= 3:  # head boxes for part of trainval only
                annotations[f"annotations/xmls/{name}.xml"] = voc_xml(f"{name}.jpg", [(3, 2, 15, 12)], "cat")
    annotations["annotations/list.txt"] = (
        "#Image CLASS-ID SPECIES BREED ID\n#ID: 1:37 Class ids\n" + "\n".join(trainval + test) + "\n"
    ).encode()
    annotations["annotations/trainval.txt"] = ("\n".join(trainval) + "\n").encode()
    annotations["annotations/test.txt"] = ("\n".join(test) + "\n").encode()
    return {"images.tar.gz": tar_bytes(images), "annotations.tar.gz": tar_bytes(annotations)}


BUILDERS = {
    "flowers102": _flowers102,
    "flower_photos": _flower_photos,
    "cub200": _cub200,
    "stanford_dogs": _stanford_dogs,
    "cinic10": _cinic10,
    "oxford_pets": _oxford_pets,
}

EXPECT = {  # split counts with data.val_fraction 0.25, test_fraction 0.25 (flower_photos only), and class names
    "flowers102": ({"train": 4, "val": 4, "test": 4}, ["pink primrose", "english marigold", "blackberry lily"]),
    "flower_photos": ({"train": 6, "val": 3, "test": 3}, ["daisy", "roses", "tulips"]),
    "cub200": ({"train": 9, "val": 3, "test": 3}, ["Black_footed_Albatross", "Laysan_Albatross", "Cardinal"]),
    "stanford_dogs": ({"train": 9, "val": 3, "test": 3}, ["Chihuahua", "beagle", "golden_retriever"]),
    "cinic10": ({"train": 6, "val": 6, "test": 6}, list(CINIC_CLASSES)),
    "oxford_pets": ({"train": 9, "val": 3, "test": 6}, ["Abyssinian", "american_bulldog", "Bengal"]),
}


@functools.cache
def build(name: str) -> dict[str, bytes]:
    return BUILDERS[name]()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Server:
    """Serves `files` by URL path; `script[path]` lists failures to play first: 'cut', '404', '500', 'no-range',
    'slow' (answers after 1 s)."""

    files: dict[str, bytes] = field(default_factory=dict)
    script: dict[str, list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    url: str = ""

    def ranges(self, path: str) -> list[str | None]:
        return [r for p, r in self.requests if p == path]


def _handler(server: Server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path
            server.requests.append((path, self.headers.get("Range")))
            action = server.script.get(path, []).pop(0) if server.script.get(path) else None
            if action == "slow":
                time.sleep(1.0)
            if action == "500":
                return self._empty(500)
            if action == "404" or path not in server.files:
                return self._empty(404)
            body = server.files[path]
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and action != "no-range":
                start = int(match.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            chunk = body[start:]
            self.send_header("Content-Length", str(len(chunk)))
            self.send_header("Accept-Ranges", "bytes")
            self.end_headers()
            if action == "cut":  # half the bytes, then the connection drops
                self.wfile.write(chunk[: len(chunk) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(chunk)

        def _empty(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


class serve:
    """Context manager: a real http.server on 127.0.0.1 in a thread; yields a Server whose .url is its base."""

    def __init__(self, files: dict[str, bytes] | None = None):
        self.state = Server(files=dict(files or {}))

    def __enter__(self) -> Server:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.state.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        return self.state

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def extract_layout(files: dict[str, bytes], dest: Path) -> Path:
    """The official layout on disk, as a user would have it after extracting the archives by hand."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name.endswith((".tgz", ".tar.gz", ".tar")):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                tar.extractall(dest, filter="data")
        else:
            (dest / name).write_bytes(data)
    return dest
