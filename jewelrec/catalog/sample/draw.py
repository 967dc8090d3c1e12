"""Drawing primitives and the six jewelry designs behind :mod:`jewelrec.catalog.sample`.

A :class:`Scene` collects shapes in normalised coordinates (the canvas is [-1, 1]^2, y points down)
into three layers: polished metal underneath, stones, and metal on top (prongs). ``composite`` lights the
metal, lays the stones, adds the shadow and glints. Light always comes from the upper left, whatever the
pose, because poses are applied to the shapes before anything is lit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageChops, ImageDraw, ImageFilter
from scipy import ndimage

_LIGHT = np.array([-0.45, -0.6, 0.66])  # key soft-box: upper left, towards the camera (image y points down)

# dark, mid, light, highlight (RGB): reflections sweep through these by brightness
_METAL_RAMP = {
    "gold": ((92, 58, 12), (196, 146, 48), (243, 208, 112), (255, 246, 214)),
    "rose gold": ((104, 52, 44), (200, 126, 108), (240, 184, 163), (255, 236, 226)),
    "silver": ((66, 71, 80), (168, 174, 184), (226, 230, 236), (255, 255, 255)),
    "platinum": ((88, 87, 84), (150, 148, 144), (204, 202, 198), (242, 241, 238)),
}
_GEM_RAMP = {  # dark, mid, light
    "diamond": ((60, 66, 78), (196, 202, 214), (255, 255, 255)),
    "ruby": ((70, 0, 16), (180, 14, 44), (255, 110, 130)),
    "sapphire": ((6, 14, 70), (28, 62, 178), (130, 165, 255)),
    "emerald": ((0, 50, 26), (14, 128, 70), (110, 216, 150)),
}
BACKDROPS = ((246, 244, 240), (240, 243, 246), (247, 239, 236), (241, 242, 236), (244, 244, 244))


_KEY = _LIGHT / np.linalg.norm(_LIGHT)
_RIM = np.array([0.75, -0.15, 0.45]) / np.linalg.norm([0.75, -0.15, 0.45])  # a second soft-box, right


@dataclass
class Scene:
    """One photo being drawn at ``side`` px; ``angle`` (degrees), ``scale``, ``offset`` pose the piece."""

    side: int
    angle: float
    scale: float
    offset: tuple[float, float]
    metal: str
    gemstone: str
    rng: np.random.Generator
    metal_base: Image.Image = field(init=False)
    metal_top: Image.Image = field(init=False)
    stones: Image.Image = field(init=False)
    glints: list[tuple[float, float, float]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.metal_base = Image.new("L", (self.side, self.side), 0)
        self.metal_top = Image.new("L", (self.side, self.side), 0)
        self.stones = Image.new("RGBA", (self.side, self.side), (0, 0, 0, 0))
        theta = math.radians(self.angle)
        self._rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])

    # --- geometry -------------------------------------------------------------------------------------
    def to_px(self, points: np.ndarray) -> np.ndarray:
        """Normalised (n, 2) points -> pixel (n, 2) points, with the pose applied."""
        posed = np.atleast_2d(points) @ self._rot.T * self.scale + np.asarray(self.offset)  # (n, 2)
        return (posed + 1.0) * (self.side / 2)

    def px(self, length: float) -> float:
        return length * self.scale * self.side / 2

    def _layer(self, top: bool) -> ImageDraw.ImageDraw:
        return ImageDraw.Draw(self.metal_top if top else self.metal_base)

    # --- metal ----------------------------------------------------------------------------------------
    def tube(self, points: np.ndarray, width: float, *, top: bool = False, closed: bool = False,
             value: int = 255) -> None:
        """A round wire of ``width`` along a polyline (``value=0`` cuts a groove instead)."""
        pts = self.to_px(np.vstack([points, points[:1]]) if closed else points)
        w = max(1, round(self.px(width)))
        draw = self._layer(top)
        draw.line([tuple(p) for p in pts], fill=value, width=w, joint="curve")
        if not closed:
            for p in (pts[0], pts[-1]):
                draw.ellipse([p[0] - w / 2, p[1] - w / 2, p[0] + w / 2, p[1] + w / 2], fill=value)

    def fill(self, points: np.ndarray, *, top: bool = False, value: int = 255) -> None:
        self._layer(top).polygon([tuple(p) for p in self.to_px(points)], fill=value)

    def disk(self, center: tuple[float, float], radius: float, *, top: bool = False, value: int = 255) -> None:
        (x, y), r = self.to_px(np.array(center))[0], self.px(radius)
        self._layer(top).ellipse([x - r, y - r, x + r, y + r], fill=value)

    def chain(self, points: np.ndarray, link: float, *, wire: float | None = None) -> None:
        """Cable chain: links of length ``link`` alternate face-on (oval) and edge-on (bar)."""
        wire = wire or link * 0.28
        for i, (p, tangent) in enumerate(_resample(points, link * 0.78)):
            normal = np.array([-tangent[1], tangent[0]])
            if i % 2:
                self.tube(np.array([p - tangent * link * 0.45, p + tangent * link * 0.45]), wire * 1.1)
            else:
                t = np.linspace(0, 2 * np.pi, 12, endpoint=False)[:, None]
                oval = p + tangent * np.cos(t) * link * 0.5 + normal * np.sin(t) * link * 0.3
                self.tube(oval, wire, closed=True)

    def rope(self, points: np.ndarray, width: float) -> None:
        """Rope chain: tilted beads that overlap, so the lighting shows the twist."""
        for p, tangent in _resample(points, width * 0.45):
            twist = tangent * 0.7 + np.array([-tangent[1], tangent[0]]) * 0.7
            self.tube(np.array([p - twist * width * 0.38, p + twist * width * 0.38]), width * 0.55)

    def prongs(self, center: tuple[float, float], radius: float, count: int = 4, size: float = 0.024) -> None:
        start = math.pi / 4 if count == 4 else math.pi / 2
        for k in range(count):
            a = start + 2 * math.pi * k / count
            self.disk((center[0] + radius * math.cos(a), center[1] + radius * math.sin(a)), size, top=True)

    # --- stones ---------------------------------------------------------------------------------------
    def stone(self, center: tuple[float, float], radius: float, shape: str = "round", *,
              kind: str | None = None, rot: float = 0.0, setting: str = "prong") -> None:
        """A faceted gem or a pearl (``kind`` defaults to the item's gemstone) with its metal setting."""
        kind = kind or self.gemstone
        if kind == "none":
            return
        if kind == "pearl":
            self.disk((center[0], center[1] - radius * 0.2), radius * 0.45)  # the cup it sits in
            sprite = pearl_sprite(max(4, round(2 * self.px(radius))), int(self.rng.integers(3)))
            x, y = self.to_px(np.array(center))[0]
            self.stones.alpha_composite(sprite, (round(x - sprite.width / 2), round(y - sprite.height / 2)))
            return
        outline = np.asarray(center) + radius * SHAPES[shape] @ _rotation(rot).T  # (n, 2)
        if setting == "bezel":
            self.fill(np.asarray(center) + (outline - center) * 1.16)
        elif setting == "prong":
            self.fill(np.asarray(center) + (outline - center) * 0.7)  # the basket behind the stone
            self.prongs(center, radius * 0.95, 6 if shape == "round" and radius > 0.12 else 4,
                        size=max(0.012, radius * 0.16))
        self._facets(self.to_px(outline), kind, step=shape == "emerald")
        if kind == "diamond" or self.rng.random() < 0.5:
            x, y = self.to_px(np.array(center) + radius * np.array([-0.35, -0.35]))[0]
            self.glints.append((x, y, self.px(radius) * float(self.rng.uniform(1.2, 2.2))))

    def _facets(self, outline: np.ndarray, kind: str, *, step: bool) -> None:
        """Facets as flat polygons, each lit by which way it faces plus a random internal reflection."""
        ramp = np.asarray(_GEM_RAMP[kind], np.float32)
        contrast = 0.34 if kind == "diamond" else 0.24
        center = outline.mean(axis=0)
        nxt = np.roll(outline, -1, axis=0)  # (n, 2): each facet spans outline[i] -> outline[i + 1]
        if step:  # emerald cut: concentric steps
            scales = np.array([1.0, 0.8, 0.62, 0.46])
            rings = center + (outline - center)[None] * scales[:, None, None]  # (4, n, 2)
            rnext = np.roll(rings, -1, axis=1)
            pieces = np.stack([rings[:-1], rnext[:-1], rnext[1:], rings[1:]], axis=2).reshape(-1, 4, 2)
            level = np.repeat(np.arange(3), len(outline))
        else:  # brilliant: star, kite and girdle triangles around one table
            table, table_next = center + (outline - center) * 0.52, center + (nxt - center) * 0.52
            mid = center + (outline + nxt - 2 * center) * 0.4
            pieces = np.concatenate([np.stack(tri, axis=1) for tri in (
                (outline, nxt, mid), (nxt, table_next, mid), (table_next, table, mid), (table, outline, mid))])
            level = np.repeat(np.array([0, 1, 1, 0]), len(outline))
        d = pieces.mean(axis=1) - center  # (m, 2)
        facing = -(d @ _KEY[:2]) / (np.linalg.norm(d, axis=1) + 1e-6)  # +1 towards the light
        b = 0.5 + contrast * facing * np.where(level % 2, -0.6, 1.0) + self.rng.normal(0, contrast, len(d))
        colors = _ramp_colors(ramp, b)
        draw = ImageDraw.Draw(self.stones)
        for piece, color in zip(pieces.reshape(len(pieces), -1).tolist(), colors):
            draw.polygon(piece, fill=color)
        inner = center + (outline - center) * (0.46 if step else 0.52)
        draw.polygon(inner.ravel().tolist(), fill=_ramp_colors(ramp, [0.62 + self.rng.normal(0, 0.08)])[0])
        arrows = np.stack([np.broadcast_to(center, inner.shape), inner, np.roll(inner, -1, axis=0)], 1)[::2]
        for tri, color in zip(arrows.reshape(len(arrows), -1).tolist(),
                              _ramp_colors(ramp, 0.3 + self.rng.uniform(0, 0.25, len(arrows)))):
            draw.polygon(tri, fill=color)  # dark arrows of the pavilion seen through the table
        draw.line(np.vstack([outline, outline[:1]]).ravel().tolist(), fill=_ramp_colors(ramp, [0.15])[0],
                  width=max(1, round(self.side / 300)))

    # --- output ---------------------------------------------------------------------------------------
    def composite(self, tint: tuple[int, int, int]) -> Image.Image:
        """Light the metal and lay everything over a ``tint`` studio backdrop; returns an RGB image."""
        ramp = np.asarray(_METAL_RAMP[self.metal], np.float32)
        cover = ImageChops.lighter(ImageChops.lighter(self.metal_base, self.metal_top), self.stones.getchannel("A"))
        light = _lighting(cover, backdrop_light(self.side // 4, self.rng), self.side)  # (side, side)
        out = np.minimum(light[..., None] * np.asarray(tint, np.float32), 255)  # (side, side, 3)
        bevel = self.px(0.035)
        for layer in (self.metal_base, self.stones, self.metal_top):
            box = layer.getbbox()
            if box is None:
                continue
            x0, y0, x1, y1 = box
            region = out[y0:y1, x0:x1]  # a view: writing to it writes to out
            if layer is self.stones:
                rgba = np.asarray(layer.crop(box), np.float32)  # (h, w, 4)
                alpha = rgba[..., 3:] / 255
                region[:] = region * (1 - alpha) + rgba[..., :3] * alpha
            else:
                inside = np.asarray(layer.crop(box)) > 127  # (h, w); drawn without anti-aliasing
                region[inside], spot = _lit_metal(inside, ramp, bevel)
                if layer is self.metal_base and spot is not None and self.rng.random() < 0.8:
                    self.glints.append((x0 + spot[1], y0 + spot[0], self.px(0.05)))
        return _add_glints(out, self.glints, self.side)


def _lit_metal(inside: np.ndarray, ramp: np.ndarray, bevel: float) -> tuple[np.ndarray, tuple | None]:
    """Polished metal for a mask (h, w): rounded height field reflecting a studio.

    Returns the colours of the inside pixels (m, 3), in ``inside``'s order, and the hottest spot (row, col).
    """
    dist = ndimage.distance_transform_edt(inside).astype(np.float32)  # (h, w) px to the edge
    t = np.clip(dist / bevel, 0, 1)
    height = bevel * np.sqrt(1 - (1 - t) ** 2) + 0.25 * dist  # round wires, domed plates
    height = ndimage.gaussian_filter(height, 1.6)  # irons out the pixel staircase of slanted edges
    gy, gx = np.gradient(height)
    gx, gy = gx[inside], gy[inside]  # (m,): light only what is metal
    nz = 1 / np.sqrt(gx**2 + gy**2 + 1)
    nx, ny = -gx * nz, -gy * nz
    rx, ry, rz = 2 * nz * nx, 2 * nz * ny, 2 * nz * nz - 1  # view ray (0, 0, 1) reflected
    key = np.exp((rx * _KEY[0] + ry * _KEY[1] + rz * _KEY[2] - 1) / 0.1)
    rim = np.exp((rx * _RIM[0] + ry * _RIM[1] + rz * _RIM[2] - 1) / 0.08)
    level = 0.55 + 0.3 * np.clip(-ry, 0, 1) - 0.35 * np.exp(-((ry - 0.35) ** 2) / 0.05) * (1 - rz)
    level = level + 1.1 * key + 0.45 * rim - 0.2 * (1 - rz) ** 3  # (m,)
    rgb = np.stack([np.interp(level, (0.0, 0.5, 1.0, 1.4), ramp[:, c]) for c in range(3)], axis=-1)
    hottest = int(np.argmax(level))
    spot = tuple(int(v[hottest]) for v in np.nonzero(inside)) if level[hottest] > 1.25 else None
    return rgb.astype(np.float32), spot


def _lighting(cover: Image.Image, light: np.ndarray, side: int) -> np.ndarray:
    """Backdrop brightness times a soft drop shadow and a tight contact shadow, at full size (side, side).

    Both are smooth, so they are made at a quarter of the size and enlarged once.
    """
    small = cover.reduce(4)
    n = small.width
    soft = np.asarray(small.filter(ImageFilter.GaussianBlur(n / 22)), np.float32) / 255  # (n, n)
    soft = np.roll(soft, (max(1, n // 60), max(1, n // 120)), axis=(0, 1))  # light from the upper left
    tight = np.asarray(small.filter(ImageFilter.GaussianBlur(max(0.6, n / 100))), np.float32) / 255
    tight = np.roll(tight, max(1, n // 200), axis=0)
    shaded = np.asarray(light, np.float32) * (1 - 0.22 * soft - 0.16 * tight)  # (n, n)
    return np.asarray(Image.fromarray(shaded, "F").resize((side, side), Image.Resampling.BILINEAR))


def _add_glints(out: np.ndarray, glints: list[tuple[float, float, float]], side: int) -> Image.Image:
    """Four-point star glints, screen-blended, so stones and polished edges sparkle."""
    w = max(1, side // 200)
    for x, y, length in glints[:6]:
        r = int(length + 4 * w)
        x0, y0 = max(0, int(x) - r), max(0, int(y) - r)
        x1, y1 = min(side, int(x) + r + 1), min(side, int(y) + r + 1)
        if x1 <= x0 or y1 <= y0:
            continue
        layer = Image.new("L", (x1 - x0, y1 - y0), 0)
        draw = ImageDraw.Draw(layer)
        cx, cy = x - x0, y - y0
        for dx, dy, k in ((1, 0, 1.0), (0, 1, 1.0), (0.7, 0.7, 0.45), (0.7, -0.7, 0.45)):
            draw.line([(cx - dx * length * k, cy - dy * length * k), (cx + dx * length * k, cy + dy * length * k)],
                      fill=255, width=w)
        draw.ellipse([cx - 2 * w, cy - 2 * w, cx + 2 * w, cy + 2 * w], fill=255)
        g = np.asarray(layer.filter(ImageFilter.GaussianBlur(w)), np.float32)[..., None] / 255  # (h, w, 1)
        out[y0:y1, x0:x1] = 255 - (255 - out[y0:y1, x0:x1]) * (1 - 0.95 * g)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")


def _ramp_colors(ramp: np.ndarray, b) -> list[tuple[int, int, int, int]]:
    """Brightness (m,) -> opaque RGBA: dark at 0, mid at 0.5, light at 1, white at 1.25."""
    b = np.clip(np.asarray(b, np.float32), 0, 1.25)
    rgb = np.stack([np.interp(b, (0.0, 0.5, 1.0, 1.25), (*ramp[:, c], 255.0)) for c in range(3)], axis=-1)
    return [(*row, 255) for row in rgb.astype(np.uint8).tolist()]


def _rotation(degrees: float) -> np.ndarray:
    a = math.radians(degrees)
    return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])


def _resample(points: np.ndarray, spacing: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Points every ``spacing`` along a polyline, each with its unit tangent."""
    seg = np.diff(points, axis=0)
    lengths = np.linalg.norm(seg, axis=1)
    cum = np.concatenate([[0], np.cumsum(lengths)])
    out = []
    for s in np.arange(0, cum[-1], spacing):
        i = min(int(np.searchsorted(cum, s, side="right")) - 1, len(seg) - 1)
        f = (s - cum[i]) / max(lengths[i], 1e-9)
        out.append((points[i] + seg[i] * f, seg[i] / max(lengths[i], 1e-9)))
    return out


def ellipse(cx: float, cy: float, rx: float, ry: float, start: float = 0, end: float = 360, n: int = 72,
            tilt: float = 0.0) -> np.ndarray:
    """Points (n, 2) on an ellipse arc, angles in degrees (0 = right, 90 = bottom since y points down)."""
    t = np.radians(np.linspace(start, end, n))
    pts = np.stack([rx * np.cos(t), ry * np.sin(t)], axis=1) @ _rotation(tilt).T
    return pts + np.array([cx, cy])


def _shape_table() -> dict[str, np.ndarray]:
    t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
    t2 = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    heart = np.stack([16 * np.sin(t2) ** 3, -(13 * np.cos(t2) - 5 * np.cos(2 * t2) - 2 * np.cos(3 * t2)
                                               - np.cos(4 * t2))], axis=1) / 16
    w, h, c = 0.72, 1.0, 0.22
    return {
        "round": np.stack([np.cos(t), np.sin(t)], axis=1),
        "oval": np.stack([0.74 * np.cos(t), np.sin(t)], axis=1),
        "pear": np.stack([0.8 * np.sin(t) * np.abs(np.sin(t / 2)) ** 0.9, -np.cos(t)], axis=1),
        "heart": heart - heart.mean(axis=0),
        "emerald": np.array([[-w + c, -h], [w - c, -h], [w, -h + c], [w, h - c], [w - c, h], [-w + c, h],
                             [-w, h - c], [-w, -h + c]]),
    }


SHAPES = _shape_table()


def backdrop_light(n: int, rng: np.random.Generator) -> np.ndarray:
    """Seamless studio sweep brightness (n, n): brighter centre, soft vignette, slightly darker floor."""
    axis = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    cx, cy = rng.uniform(-0.25, 0.25), rng.uniform(-0.35, 0.0)
    radius2 = (axis[None, :] - cx) ** 2 + (axis[:, None] - cy) ** 2  # (n, n)
    return 1.03 - 0.09 * np.clip(radius2 / 2.0, 0, 1) - 0.025 * (axis[:, None] + 1)


@lru_cache(maxsize=64)
def pearl_sprite(diameter: int, tone: int = 0) -> Image.Image:
    """A lustrous pearl, RGBA ``diameter`` px; ``tone`` 0 white, 1 cream, 2 rose. Cached: pose never changes it."""
    base = np.array(((236, 234, 230), (238, 228, 206), (240, 222, 218))[tone], np.float32) / 255
    axis = (np.arange(diameter, dtype=np.float32) + 0.5) / diameter * 2 - 1
    x, y = np.meshgrid(axis, axis)  # (d, d)
    r2 = x**2 + y**2
    z = np.sqrt(np.clip(1 - r2, 0, 1))
    lit = np.clip(x * _LIGHT[0] + y * _LIGHT[1] + z * _LIGHT[2], 0, 1)
    half = _LIGHT + np.array([0, 0, 1.0])
    half /= np.linalg.norm(half)
    spec = np.clip(x * half[0] + y * half[1] + z * half[2], 0, 1) ** 60
    rim = (1 - z) ** 2
    rgb = base * (0.52 + 0.5 * lit)[..., None] - 0.18 * rim[..., None]
    rgb += np.array([0.05, -0.01, 0.06]) * (rim * (1 - rim) * 3)[..., None]  # nacre iridescence at the edge
    rgb += 0.9 * spec[..., None] + 0.12 * np.clip(y, 0, 1)[..., None] * z[..., None]  # glint + floor bounce
    alpha = np.clip((1 - np.sqrt(r2)) * diameter / 2, 0, 1)
    pixels = np.dstack([np.clip(rgb, 0, 1) * 255, alpha * 255]).astype(np.uint8)
    return Image.fromarray(pixels, "RGBA")
