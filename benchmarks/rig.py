"""What the live benchmarks share: a generated registry of unauthorized rooms, trial rules, percentiles.

Every room is run by a seller who is not authorized for the NOVA brand and
shows a NOVA card at known times, so every sighting should open an alert.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from livewarden.assets.marks import generate_mark, place_mark  # noqa: E402
from livewarden.policy import load_rules  # noqa: E402
from livewarden.policy.rules import Rule  # noqa: E402
from livewarden.registry import load_registry  # noqa: E402
from livewarden.registry.schema import Registry  # noqa: E402

MARK_TEXT, MARK_SEED = "NOVA", 11
DISTRACTORS = [("KORU", 23), ("ALTO", 31), ("MIRA", 47), ("ZEST", 53), ("VELA", 61),
               ("OKTA", 71), ("LUMO", 83), ("PIKA", 97), ("RIVO", 101), ("SOLA", 113),
               ("TUVA", 127), ("EKKO", 131), ("NIMA", 137), ("DORA", 139), ("FEXO", 149),
               ("GIRO", 151), ("HALO", 157), ("JUNO", 163), ("KIWA", 167)]


def the_mark() -> np.ndarray:
    return generate_mark(MARK_TEXT, MARK_SEED)


PACKS = REPO / "tests" / "fixtures" / "products"  # real pack shots (MIT, see ATTRIBUTION.md there)


FACES = REPO / "tests" / "fixtures" / "faces"  # real portraits (MIT, see ATTRIBUTION.md there)


def with_portrait(frames, portrait: np.ndarray, where: tuple[int, int] = (40, 60), height: int = 360):
    """The room's frames with a real portrait pasted in (a person on camera for the face detector)."""
    f = height / portrait.shape[0]
    small = cv2.resize(portrait, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
    x, y = where
    for image in frames:
        image[y:y + small.shape[0], x:x + small.shape[1]] = small
        yield image


def with_pack(frames, pack: np.ndarray, on: tuple[float, float], fps: int, width_share: float = 0.12):
    """The room's frames with a real pack shot held up (turning a little) between on[0] and on[1] seconds."""
    for i, image in enumerate(frames):
        t = i / fps
        if on[0] <= t < on[1]:
            w, h = image.shape[1], image.shape[0]
            image, _ = place_mark(image, pack, center=(w * (0.33 + 0.01 * np.sin(t)), h * 0.7), scale=width_share,
                                  angle_deg=5 * np.sin(t * 1.1), tilt=10 * np.sin(t * 0.7))
        yield image


# --with-codes: NOVA's code scheme, the serials it issued, and the never-issued one on the rooms' swing tag
CODE_TEMPLATE = "https://verify.nova.example/{serial}"
ISSUED_SERIALS = [f"NV{i:08d}" for i in range(1000)]
NEVER_ISSUED = "NV99999999"


def write_registry(directory: Path, sources: dict[str, str], *, products: bool = False,
                   persons: bool = False, broadcast: Path | None = None, codes: bool = False,
                   languages: tuple[str, ...] = ()) -> Registry:
    """20 brands (NOVA + 19 others, so the index is realistic), one unauthorized seller, the given rooms.

    With `products`, the five test pack shots are the catalog (the rooms list none of them); with
    `persons`, two test portraits are protected persons who authorized no one; with `codes`, NOVA's code scheme
    and 1,000 issued serials; `languages`, what every room declares it speaks.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "marks").mkdir(exist_ok=True)
    brands = []
    for text, seed in [(MARK_TEXT, MARK_SEED)] + DISTRACTORS:
        brand_id = text.lower()
        cv2.imwrite(str(directory / "marks" / f"{brand_id}.png"), generate_mark(text, seed))
        brands.append({"id": brand_id, "name": text.title(), "marks": [f"marks/{brand_id}.png"]})
    catalog = []
    if products:
        for image in sorted(PACKS.glob("*.jpg")):
            if image.name.startswith("shop-photo"):
                continue
            brand = image.stem.split("-")[0].lower()
            if brand not in {b["id"] for b in brands}:
                brands.append({"id": brand, "name": brand.title()})
            catalog.append({"id": image.stem.lower(), "brand": brand, "name": image.stem, "images": [str(image)]})
    people = [{"id": name, "name": name.title(), "photos": [str(FACES / f"{name}-enrol.jpg")]}
              for name in ("obama", "biden")] if persons else []
    data = {
        "brands": brands,
        "products": catalog,
        "persons": people,
        "sellers": [{"id": "bargain", "name": "Bargain", "authorized_brands": ["koru"]}],
        "rooms": [{"id": room, "seller": "bargain", "source": src} | ({"languages": list(languages)} if languages
                                                                         else {}) for room, src in sources.items()],
    }
    if codes:
        (directory / "nova-codes.txt").write_text("\n".join(ISSUED_SERIALS) + "\n")
        data["code_schemes"] = [{"id": "nova-tags", "brand": "nova", "kind": "url", "template": CODE_TEMPLATE,
                                 "issued": ["nova-codes.txt"]}]
    if broadcast is not None:
        data["sellers"].append({"id": "studio", "name": "Studio"})
        data["broadcasts"] = [{"id": "studio-show", "owner": "studio", "recordings": [str(broadcast)]}]
    path = directory / "registry.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_registry(path)


def trial_rules(close_after_s: float) -> list[Rule]:
    """The packaged rules, except that an alert closes soon so every new sighting opens a new one."""
    return [r.model_copy(update={"close_after_s": close_after_s}) for r in load_rules()]


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentiles(values: list[float]) -> str:
    if not values:
        return "n=0"
    a = np.asarray(values)
    return (f"n={len(a)} p50={np.percentile(a, 50):.3f}s p95={np.percentile(a, 95):.3f}s "
            f"max={a.max():.3f}s")
