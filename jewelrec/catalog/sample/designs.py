"""The six jewelry designs of the sample catalog, each a function ``(scene, style) -> None``.

Coordinates are normalised: the photo spans [-1, 1] on both axes, y points down. Each design owns a
silhouette that no other category shares (a band under a big stone; a U of chain leaving the frame; a
pair; a wide ellipse; a V of fine chain holding one drop; a flower or burst), so the category is what a
model picks up first, and ``style`` varies the piece within its category.
"""

from __future__ import annotations

import numpy as np

from jewelrec.catalog.sample.draw import SHAPES, Scene, ellipse


def ring(scene: Scene, style: str) -> None:
    rng = scene.rng
    cy, rx, ry = 0.32, float(rng.uniform(0.56, 0.64)), float(rng.uniform(0.2, 0.25))
    width = 0.1 if style == "signet" else 0.075
    top = cy - ry
    if style == "band":  # a wedding band: polished outer face in front, the opening behind
        _band(scene, cy - 0.05, rx, ry, 0.13, 0.05)
        return
    _band(scene, cy - width / 2, rx, ry, width * 0.8, width * 0.7)
    if style == "signet":
        scene.fill(ellipse(0, top - 0.02, 0.24, 0.16, n=48))
        scene.tube(ellipse(0, top - 0.02, 0.16, 0.1, n=48), 0.02, closed=True, value=0)  # engraved border
        return
    r = {"solitaire": 0.2, "halo": 0.14, "three-stone": 0.16, "pearl": 0.19}[style]
    gy = top - r * 0.85
    scene.fill(np.array([[-r * 0.55, gy], [r * 0.55, gy], [r * 0.25, top + 0.04], [-r * 0.25, top + 0.04]]))
    if style == "halo":
        scene.disk((0, gy), r + 0.085)
        for a in np.linspace(0, 2 * np.pi, 14, endpoint=False):
            scene.stone((np.cos(a) * (r + 0.05), gy + np.sin(a) * (r + 0.05)), 0.032, kind="diamond",
                        setting="none")
    if style == "three-stone":
        for side in (-1, 1):
            scene.stone((side * (r + 0.09), gy + 0.05), r * 0.6, setting="prong")
    shape = "round" if style == "halo" else str(rng.choice(["round", "round", "oval", "emerald"]))
    if scene.gemstone == "emerald" and style != "halo":
        shape = "emerald"
    scene.stone((0, gy), r, shape)


def necklace(scene: Scene, style: str) -> None:
    rng = scene.rng
    rx, depth = float(rng.uniform(0.74, 0.84)), float(rng.uniform(1.45, 1.65))
    curve = ellipse(0, -1.12, rx, depth, -8, 188, 140)  # a U hanging from beyond the top edge
    if style == "chain":
        scene.chain(curve, 0.07)
    elif style == "rope":
        scene.rope(curve, 0.06)
    else:
        scene.tube(curve, 0.018)
    if style == "strand":
        for p, r in _along(ellipse(0, -1.12, rx, depth, -6, 186, 400), 0.045, 0.062):
            scene.stone(tuple(p), r, kind="pearl")
    elif style == "tennis":
        for p, r in _along(ellipse(0, -1.12, rx, depth, 35, 145, 200), 0.032, 0.05):
            scene.stone(tuple(p), r, setting="bezel")
    elif style == "station":
        for angle in np.linspace(48, 132, 5):
            p = ellipse(0, -1.12, rx, depth, angle, angle, 1)[0]
            scene.stone(tuple(p), 0.048, setting="bezel")
        scene.stone((0, -1.12 + depth + 0.1), 0.09, "pear", setting="bezel")


def earrings(scene: Scene, style: str) -> None:
    rng = scene.rng
    gap = float(rng.uniform(0.38, 0.46))
    shape = str(rng.choice(["round", "emerald"])) if style == "stud" else "round"  # a pair matches
    for side in (-1, 1):
        x = side * gap
        if style in ("stud", "halo stud", "pearl stud"):
            r = 0.17 if style != "halo stud" else 0.12
            if style == "halo stud":
                scene.disk((x, 0), r + 0.07)
                for a in np.linspace(0, 2 * np.pi, 12, endpoint=False):
                    scene.stone((x + np.cos(a) * (r + 0.04), np.sin(a) * (r + 0.04)), 0.026, kind="diamond",
                                setting="none")
            scene.stone((x, 0.0), r, shape)
        elif style == "hoop":
            scene.tube(ellipse(x, 0.08, 0.27, 0.36, -80, 260, 60, tilt=-side * 8), 0.065)
            scene.tube(np.array([[x - 0.02 * side, -0.3], [x, -0.42]]), 0.025)
        else:  # drops: a hook or stud, then something hanging
            scene.tube(ellipse(x + 0.07, -0.58, 0.08, 0.1, 150, 360, 24), 0.024)
            scene.tube(np.array([[x - 0.01, -0.6], [x, -0.36]]), 0.024)
            scene.disk((x, -0.35), 0.04)
            if style == "bar drop":
                scene.tube(np.array([[x, -0.33], [x, 0.3]]), 0.055)
                scene.disk((x, 0.34), 0.07)
            elif style == "pearl drop":
                scene.tube(np.array([[x, -0.35], [x, -0.1]]), 0.022)
                scene.stone((x, 0.05), 0.17, kind="pearl")
            else:
                scene.tube(np.array([[x, -0.35], [x, -0.2]]), 0.02)
                scene.stone((x, 0.06), 0.24, "pear", setting="bezel")


def bracelet(scene: Scene, style: str) -> None:
    rng = scene.rng
    rx, ry, cy = float(rng.uniform(0.74, 0.82)), float(rng.uniform(0.36, 0.46)), 0.05
    if style in ("bangle", "cuff"):
        height = float(rng.uniform(0.1, 0.14)) if style == "bangle" else 0.24
        _band(scene, cy - height / 2, rx, ry, height, 0.05)
        if style == "cuff":  # the opening at the back, with polished ends
            scene.fill(np.array([[-0.1, cy - ry - 0.2], [0.1, cy - ry - 0.2], [0.1, cy - ry + 0.12],
                                 [-0.1, cy - ry + 0.12]]), value=0)
        if scene.gemstone != "none":
            scene.stone((0, cy + ry), 0.1, setting="bezel")
    elif style == "chain":
        loop = ellipse(0, cy, rx, ry, 0, 360, 120)
        scene.chain(loop, 0.11, wire=0.036)
        scene.tube(ellipse(0.0, cy - ry, 0.06, 0.04, 0, 360, 20), 0.03)  # the clasp ring
    else:  # tennis and pearl: touching stones all round; the back ones first so the front ones cover them
        scene.tube(ellipse(0, cy, rx, ry, 0, 360, 120), 0.02, closed=True)
        r_back, r_front = (0.042, 0.062) if style == "tennis" else (0.05, 0.072)
        beads = _along(ellipse(0, cy, rx, ry, -90, 270, 360), r_back, r_front)  # starts at the back
        for p, r in sorted(beads, key=lambda pr: pr[0][1]):
            scene.stone(tuple(p), r, setting="bezel")


def pendant(scene: Scene, style: str) -> None:
    rng = scene.rng
    bail_y = float(rng.uniform(-0.36, -0.28))
    for side in (-1, 1):
        t = np.linspace(0, 1, 40)[:, None]
        start, ctrl, end = np.array([side * 0.5, -1.15]), np.array([side * 0.18, -0.6]), np.array([0, bail_y])
        scene.chain((1 - t) ** 2 * start + 2 * t * (1 - t) * ctrl + t**2 * end, 0.035)
    scene.tube(ellipse(0, bail_y + 0.04, 0.035, 0.055, 0, 360, 20), 0.022, closed=True)
    cy = bail_y + 0.1
    if style == "medallion":
        r, center = 0.3, (0, cy + 0.3)
        scene.disk(center, r)
        scene.tube(ellipse(*center, r * 0.8, r * 0.8, 0, 360, 60), 0.02, closed=True, value=0)  # engraved rim
        star = np.array([[np.cos(a), np.sin(a)] for a in np.radians(np.arange(-90, 270, 36))])
        star = star * np.where(np.arange(10) % 2, 0.42, 1.0)[:, None] * r * 0.5 + np.asarray(center)
        scene.tube(star, 0.018, closed=True, value=0)
    elif style == "bar":
        scene.tube(np.array([[0, cy + 0.02], [0, cy + 0.62]]), 0.085)
    elif style == "heart":
        r = 0.28
        center = np.array([0, cy + r + 0.02])
        scene.fill(center + SHAPES["heart"] * r * 1.05)
        if scene.gemstone != "none":
            scene.stone(tuple(center), r * 0.78, "heart", setting="none")
    elif style == "pearl drop":
        scene.stone((0, cy + 0.2), 0.2, kind="pearl")
    else:
        shape = str(rng.choice(["pear", "round", "oval"]))
        r = 0.24 if shape != "round" else 0.19
        scene.stone((0, cy + r + 0.05), r, "emerald" if scene.gemstone == "emerald" else shape, setting="bezel")


def brooch(scene: Scene, style: str) -> None:
    rng = scene.rng
    c = np.array([0.02, -0.05])
    if style == "knot":
        for side in (-1, 1):
            scene.tube(ellipse(c[0] + side * 0.3, c[1], 0.3, 0.19, 0, 360, 60, tilt=side * 18), 0.09, closed=True)
            scene.tube(np.array([c, c + [side * 0.28, 0.6]]), 0.1)
        scene.disk(tuple(c), 0.12)
        return
    # a stem with a leaf, so a flower reads as a flower
    scene.tube(np.array([c + [0, 0.2], c + [-0.14, 0.55], c + [-0.3, 0.78]]), 0.04)
    scene.fill(ellipse(-0.22 + c[0], 0.52 + c[1], 0.16, 0.07, n=40, tilt=-35))
    if style == "starburst":
        for a in np.linspace(0, 360, 16, endpoint=False) + rng.uniform(0, 20):
            length = 0.52 if int(a) % 2 else 0.36
            tip = c + length * np.array([np.cos(np.radians(a)), np.sin(np.radians(a))])
            scene.tube(np.array([c, tip]), 0.035)
            scene.disk(tuple(tip), 0.035)
        scene.disk(tuple(c), 0.18)
    else:
        petals = int(rng.integers(5, 8))
        for a in np.linspace(0, 360, petals, endpoint=False) + rng.uniform(0, 360 / petals):
            direction = np.array([np.cos(np.radians(a)), np.sin(np.radians(a))])
            p = c + direction * 0.26
            scene.fill(ellipse(p[0], p[1], 0.22, 0.13, n=40, tilt=a))
            scene.tube(ellipse(p[0], p[1], 0.22, 0.13, n=40, tilt=a), 0.012, closed=True)
            scene.fill(ellipse(p[0], p[1], 0.2, 0.115, n=40, tilt=a), value=0)  # a gap defines the petal edge
            scene.fill(ellipse(p[0], p[1], 0.185, 0.1, n=40, tilt=a))
            if scene.gemstone not in ("none", "pearl"):
                scene.stone(tuple(c + direction * 0.36), 0.04, setting="none")
    if scene.gemstone == "none":
        scene.disk(tuple(c), 0.12)
    else:
        scene.stone(tuple(c), 0.14, "round", setting="prong")


def _band(scene: Scene, cy: float, rx: float, ry: float, height: float, thickness: float) -> None:
    """A short metal cylinder seen from above the front: outer face below, opening and back wall above."""
    outer = np.vstack([ellipse(0, cy, rx, ry, 180, 360, 60), ellipse(0, cy + height, rx, ry, 0, 180, 60)])
    scene.fill(outer)
    irx, iry = rx - thickness, ry - thickness * ry / rx
    scene.fill(np.vstack([ellipse(0, cy + height, irx, iry, 180, 360, 60), ellipse(0, cy, irx, iry, 0, 180, 60)]),
               value=0)  # where the background shows through the opening
    scene.tube(ellipse(0, cy, rx - thickness / 2, ry - thickness / 2 * ry / rx, 8, 172, 60), thickness * 0.35,
               value=0)  # the crease between the top rim and the outer face catches the light


def _along(curve: np.ndarray, r_end: float, r_mid: float) -> list[tuple[np.ndarray, float]]:
    """Touching beads along a curve, graduated from ``r_end`` to ``r_mid`` at the middle."""
    seg = np.linalg.norm(np.diff(curve, axis=0), axis=1)
    cum = np.concatenate([[0], np.cumsum(seg)])
    total, s, out = cum[-1], 0.0, []
    while s < total:
        r = r_end + (r_mid - r_end) * np.sin(np.pi * s / total)
        i = min(int(np.searchsorted(cum, s)), len(curve) - 1)
        out.append((curve[i], r))
        s += 2 * r * 0.98
    return out


DESIGNS = {
    "ring": ring,
    "necklace": necklace,
    "earrings": earrings,
    "bracelet": bracelet,
    "pendant": pendant,
    "brooch": brooch,
}
