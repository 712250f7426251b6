"""Scene archetypes: how one sequence's street is laid out, furnished and lit, from a seeded generator.

Archetype frequencies are deliberately unequal, so that some classes live mostly in rare scenes (trains only in
`tram`, buses and trucks mostly in `large_vehicles`, riders and motorcycles mostly in `crowd`, traffic lights mostly
in `intersection`). A selection method that finds rare scenes should then beat random selection.
"""

from __future__ import annotations

import numpy as np

from models.data.synth import scene as S
from models.data.synth.render import yaw_matrix

ARCHETYPES: dict[str, float] = {
    "street": 0.40,  # shops and flats on both sides, some parked cars, few people
    "residential": 0.16,  # set-back houses, yards (terrain), trees, hedges, fences and walls
    "parked_row": 0.12,  # dense rows of parked cars, bicycles and motorcycles on the kerb
    "intersection": 0.12,  # a crossing street, traffic lights, crosswalk, crossing traffic
    "crowd": 0.08,  # wide pavements full of pedestrians, riders on bicycles and motorcycles
    "large_vehicles": 0.08,  # buses and trucks
    "tram": 0.04,  # a tram (Cityscapes "train") on rails in the street
}

FACADES = [(0.62, 0.55, 0.48), (0.72, 0.66, 0.56), (0.55, 0.42, 0.36), (0.78, 0.76, 0.72), (0.5, 0.5, 0.52),
           (0.68, 0.52, 0.4), (0.82, 0.78, 0.62), (0.45, 0.4, 0.38)]  # fmt: skip
CAR_PAINT = [(0.75, 0.75, 0.76), (0.1, 0.1, 0.12), (0.55, 0.05, 0.05), (0.1, 0.2, 0.45), (0.85, 0.85, 0.85),
             (0.35, 0.37, 0.4), (0.6, 0.55, 0.4), (0.15, 0.3, 0.2)]  # fmt: skip
CLOTHES = [(0.1, 0.1, 0.12), (0.2, 0.25, 0.45), (0.6, 0.1, 0.1), (0.8, 0.75, 0.6), (0.3, 0.3, 0.3),
           (0.15, 0.4, 0.3), (0.9, 0.9, 0.88), (0.55, 0.35, 0.2)]  # fmt: skip
SKIN_TONES = [(0.87, 0.7, 0.58), (0.7, 0.5, 0.38), (0.45, 0.3, 0.22), (0.95, 0.8, 0.7)]
SIGN_COLOURS = [((0.1, 0.3, 0.75), 0.0), ((0.8, 0.1, 0.1), 1.0), ((0.95, 0.78, 0.1), 0.0), ((0.1, 0.3, 0.75), 1.0)]


def sample_archetype(rng: np.random.Generator) -> str:
    names = list(ARCHETYPES)
    p = np.array([ARCHETYPES[n] for n in names])
    return names[int(rng.choice(len(names), p=p / p.sum()))]


class _Builder:
    """Adds street furniture and actors to a `Boxes` list."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng, self.b = rng, S.Boxes()
        self.facades: list[tuple[float, float, float, float, float]] = []

    def u(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def jitter(self, rgb, amount=0.1):
        return tuple(float(np.clip(c * self.u(1 - amount, 1 + amount), 0, 1)) for c in rgb)

    def buildings(self, side: int, x_front: float, z0: float, z1: float, h: tuple, gap_p: float, gap: tuple):
        z = z0
        while z < z1:
            width, height, depth = self.u(7, 22), self.u(*h), self.u(8, 16)
            prm = (self.u(3.0, 3.8), self.u(1.8, 3.2), self.u(0.35, 0.6), self.u(0.4, 0.6))
            self.b.add((side * (x_front + depth / 2), -height / 2, z + width / 2), (depth / 2, height / 2, width / 2),
                       S.BUILDING, S.FACADE, self.jitter(self.pick(FACADES)), param=prm)  # fmt: skip
            self.facades.append((side, x_front, z, z + width, height))
            z += width
            if self.rng.random() < gap_p:
                g = self.u(*gap)
                if self.rng.random() < 0.5:  # close the gap with a wall or fence, or plant it
                    self.barrier(side * (x_front + 0.2), z, z + g)
                elif self.rng.random() < 0.5:
                    self.hedge(side * (x_front + 1.0), z + 0.3, z + g - 0.3)
                z += g

    def far_row(self, z: float, x_half: float = 70.0):
        x = -x_half
        while x < x_half:
            width, height = self.u(10, 25), self.u(8, 30)
            prm = (self.u(3.0, 3.8), self.u(1.8, 3.2), self.u(0.35, 0.6), self.u(0.4, 0.6))
            self.b.add((x + width / 2, -height / 2, z + 8), (width / 2, height / 2, 8), S.BUILDING, S.FACADE,
                       self.jitter(self.pick(FACADES)), param=prm)  # fmt: skip
            x += width

    def pole(self, x: float, z: float, height: float, side: int, lamp: bool = True):
        obj = self.b.add((x, -height / 2, z), (0.09, height / 2, 0.09), S.POLE, S.METAL, (0.45, 0.46, 0.47))
        if lamp:
            self.b.add((x - side * 0.8, -height + 0.05, z), (0.8, 0.05, 0.06), S.POLE, S.METAL, (0.45, 0.46, 0.47),
                       obj=obj)  # fmt: skip
            self.b.add((x - side * 1.5, -height + 0.05, z), (0.25, 0.08, 0.15), S.POLE, S.METAL, (0.7, 0.7, 0.65),
                       obj=obj)  # fmt: skip

    def sign(self, x: float, z: float):
        self.pole(x, z, self.u(2.6, 3.2), 1, lamp=False)
        colour, disc = self.pick(SIGN_COLOURS)
        size = self.u(0.28, 0.4)
        self.b.add((x, -self.u(2.2, 2.5), z - 0.12), (size, size, 0.03), S.SIGN, S.PLATE, colour,
                   param=(0, 0, 0, disc))  # fmt: skip

    def traffic_light(self, x: float, z: float, side: int, overhead: bool):
        height = self.u(3.2, 4.0)
        self.pole(x, z, height + 0.3, side, lamp=False)
        state = (0, 0, 0, 0) if self.rng.random() < 0.5 else (2, 0, 0, 0)
        self.b.add((x, -height + 0.45, z - 0.2), (0.16, 0.45, 0.14), S.LIGHT, S.LAMP, (0.08, 0.08, 0.08), param=state)
        if overhead:
            self.b.add((x - side * 2.5, -height - 0.25, z), (2.5, 0.06, 0.06), S.POLE, S.METAL, (0.45, 0.46, 0.47))
            self.b.add((x - side * 4.0, -height + 0.25, z - 0.2), (0.16, 0.45, 0.14), S.LIGHT, S.LAMP,
                       (0.08, 0.08, 0.08), param=state)  # fmt: skip

    def tree(self, x: float, z: float):
        trunk_h = self.u(2.0, 3.2)
        self.b.add((x, -trunk_h / 2, z), (0.14, trunk_h / 2, 0.14), S.VEGETATION, S.BARK, (0.35, 0.27, 0.2))
        green = self.jitter((0.22, 0.36, 0.12), 0.2)
        obj = self.b.new_object()
        for _ in range(int(self.rng.integers(2, 4))):
            r = (self.u(0.9, 1.8), self.u(0.9, 1.6), self.u(0.9, 1.8))
            c = (x + self.u(-0.8, 0.8), -trunk_h - r[1] + self.u(0.2, 1.2), z + self.u(-0.8, 0.8))
            self.b.add(c, r, S.VEGETATION, S.FOLIAGE, green, yaw=self.u(0, 1.5), obj=obj)

    def hedge(self, x: float, z0: float, z1: float):
        h = self.u(0.7, 1.5)
        self.b.add((x, -h / 2, (z0 + z1) / 2), (0.5, h / 2, (z1 - z0) / 2), S.VEGETATION, S.FOLIAGE,
                   self.jitter((0.2, 0.34, 0.12), 0.2))  # fmt: skip

    def barrier(self, x: float, z0: float, z1: float):
        if self.rng.random() < 0.5:
            h = self.u(0.8, 2.0)
            self.b.add((x, -h / 2, (z0 + z1) / 2), (0.15, h / 2, (z1 - z0) / 2), S.WALL, S.CONCRETE,
                       self.jitter((0.6, 0.58, 0.55), 0.15))  # fmt: skip
        else:
            h = self.u(0.9, 1.6)
            self.b.add((x, -h / 2, (z0 + z1) / 2), (0.04, h / 2, (z1 - z0) / 2), S.FENCE, S.SLATS,
                       self.jitter((0.55, 0.45, 0.35), 0.2))  # fmt: skip

    def car(self, x: float, z: float, yaw: float, vel=(0.0, 0.0, 0.0)):
        paint = self.jitter(self.pick(CAR_PAINT), 0.08)
        length, width = self.u(3.9, 4.8), self.u(1.7, 1.9)
        obj = self.b.add((x, -0.6, z), (width / 2, 0.42, length / 2), S.CAR, S.PAINT, paint, yaw=yaw, vel=vel,
                         param=(0, 0, 0, 0.66))  # fmt: skip
        back = yaw_matrix(yaw) @ np.array([0.0, 0.0, -0.25])
        self.b.add((x + back[0], -1.3, z + back[2]), (width / 2 - 0.08, 0.28, length * 0.28), S.CAR, S.GLASS, paint,
                   yaw=yaw, vel=vel, obj=obj)  # fmt: skip

    def big_vehicle(self, kind: int, x: float, z: float, yaw: float, vel=(0.0, 0.0, 0.0)):
        if kind == S.BUS:
            colour = self.jitter(self.pick([(0.85, 0.75, 0.1), (0.8, 0.1, 0.1), (0.2, 0.4, 0.7), (0.9, 0.9, 0.88)]))
            length = self.u(10, 13)
            self.b.add((x, -1.75, z), (1.27, 1.5, length / 2), S.BUS, S.PAINT, colour, yaw=yaw, vel=vel,
                       param=(0.45, 0.88, 1.8, 1.0))  # fmt: skip
        elif kind == S.TRUCK:
            cab, cargo = self.jitter(self.pick(CAR_PAINT)), self.jitter((0.85, 0.85, 0.82))
            length = self.u(5, 9)
            fwd = yaw_matrix(yaw) @ np.array([0.0, 0.0, 1.0])
            ahead = length / 2 + 1.1
            obj = self.b.add((x + fwd[0] * ahead, -1.5, z + fwd[2] * ahead), (1.2, 1.3, 1.0), S.TRUCK, S.PAINT, cab,
                             yaw=yaw, vel=vel, param=(0.55, 0.9, 0, 1.0))  # fmt: skip
            self.b.add((x, -2.0, z), (1.25, 1.7, length / 2), S.TRUCK, S.PAINT, cargo, yaw=yaw, vel=vel,
                       param=(0, 0, 0, 1.0), obj=obj)  # fmt: skip
        else:  # tram, two sections
            colour = self.jitter(self.pick([(0.85, 0.85, 0.82), (0.8, 0.15, 0.1), (0.9, 0.75, 0.1)]))
            obj = self.b.new_object()
            for dz in (-7.6, 7.6):
                self.b.add((x, -2.0, z + dz), (1.3, 1.75, 7.5), S.TRAIN, S.PAINT, colour, yaw=yaw, vel=vel,
                           param=(0.42, 0.85, 1.5, 0.0), obj=obj)  # fmt: skip

    def person(self, x: float, z: float, vel=(0.0, 0.0, 0.0), cls: int = S.PERSON, seat: float = 0.0):
        s = self.u(0.9, 1.1)
        yaw = float(np.arctan2(vel[0], vel[2])) if any(vel) else self.u(0, 2 * np.pi)
        obj = self.b.new_object()
        if seat == 0.0:
            self.b.add((x, -0.42 * s, z), (0.18, 0.42 * s, 0.12), cls, S.CLOTH, self.jitter(self.pick(CLOTHES)),
                       yaw=yaw, vel=vel, obj=obj)  # fmt: skip
        base = seat if seat else 0.84 * s
        self.b.add((x, -base - 0.33 * s, z), (0.22, 0.33 * s, 0.14), cls, S.CLOTH, self.jitter(self.pick(CLOTHES)),
                   yaw=yaw, vel=vel, obj=obj)  # fmt: skip
        self.b.add((x, -base - 0.77 * s, z), (0.1, 0.11 * s, 0.1), cls, S.SKIN, self.pick(SKIN_TONES), yaw=yaw,
                   vel=vel, obj=obj)  # fmt: skip

    def cycle(self, x: float, z: float, vel=(0.0, 0.0, 0.0), motor: bool = False, ridden: bool = True):
        yaw = float(np.arctan2(vel[0], vel[2])) if any(vel) else self.pick([0.0, np.pi])
        if motor:
            self.b.add((x, -0.55, z), (0.3, 0.45, 1.0), S.MOTORCYCLE, S.PAINT, self.jitter(self.pick(CAR_PAINT)),
                       yaw=yaw, vel=vel, param=(0, 0, 0, 0.6))  # fmt: skip
        else:
            self.b.add((x, -0.5, z), (0.05, 0.5, 0.85), S.BICYCLE, S.METAL, self.jitter((0.2, 0.2, 0.25), 0.5),
                       yaw=yaw, vel=vel)  # fmt: skip
        if ridden:
            self.person(x, z, vel, cls=S.RIDER, seat=1.0 if motor else 1.05)


def _lighting(rng: np.random.Generator) -> S.Lighting:
    elev, azim = rng.uniform(0.25, 1.1), rng.uniform(0, 2 * np.pi)
    clouds = float(rng.uniform(0, 1))
    sun_dir = np.array([np.cos(elev) * np.sin(azim), -np.sin(elev), np.cos(elev) * np.cos(azim)])
    zenith = np.array([0.25, 0.45, 0.8]) * rng.uniform(0.8, 1.1)
    horizon = np.array([0.75, 0.82, 0.9]) * rng.uniform(0.85, 1.05)
    return S.Lighting(sun_dir=sun_dir, sun=float((1 - 0.6 * clouds) * rng.uniform(0.45, 0.75)),
                      ambient=float(rng.uniform(0.5, 0.7)), sky_zenith=zenith, sky_horizon=horizon, clouds=clouds,
                      fog_distance=float(rng.uniform(150, 600)), exposure=float(rng.uniform(0.85, 1.15)),
                      tint=1 + rng.normal(0, 0.03, 3))  # fmt: skip


def _camera_path(rng: np.random.Generator, x: float, height: float, frames: int) -> dict[int, np.ndarray]:
    """cam_to_world per frame offset: forward 0.5–1.5 m per frame, slow turn, small pitch and roll jitter."""
    speed, yaw0, turn = rng.uniform(0.5, 1.5), rng.normal(0, 0.02), rng.normal(0, 0.004)
    pitch0 = rng.normal(0, 0.01)
    out = {}
    for k in range(-(frames // 2), frames - frames // 2):
        yaw = yaw0 + turn * k
        heading = yaw0 + turn * k / 2  # chord direction of a constant-rate turn
        pos = np.array([x + k * speed * np.sin(heading), -height, k * speed * np.cos(heading)])
        p, r = pitch0 + rng.normal(0, 0.002), rng.normal(0, 0.002)
        cp, sp, cr, sr = np.cos(p), np.sin(p), np.cos(r), np.sin(r)
        Rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
        Rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = yaw_matrix(yaw) @ Rx @ Rz, pos
        out[k] = T
    return out


def build_scene(seed: int, index: int, archetype: str, frames: int = 3) -> S.Scene:
    """The scene of sequence `index` in a world with `seed`: deterministic in (seed, index, archetype, frames)."""
    rng = np.random.default_rng([seed, index, 7])
    f = _Builder(rng)
    lane = f.u(3.0, 3.6)
    lanes = 2 if archetype in ("tram", "large_vehicles") or rng.random() < 0.3 else 1
    road_half = lane * lanes + f.u(2.0, 2.6)  # lanes per direction plus a parking strip
    walk = f.u(4.0, 7.0) if archetype == "crowd" else f.u(2.5, 4.5)
    strip = f.u(1.0, 2.5) if rng.random() < (0.7 if archetype == "residential" else 0.15) else 0.0
    outer = road_half + strip + walk
    z_end = f.u(90, 170) + 1.5 * (frames // 2)  # long sequences drive further
    cross: tuple = ()
    if archetype == "intersection":
        zc = f.u(14, 35)
        cross = ((zc, zc + 2 * f.u(5, 7)),)
    rails = -road_half * 0.4 if archetype == "tram" else None
    ground = S.Ground(road_half=road_half, grass_strip=strip, sidewalk_outer=outer,
                      beyond=S.TERRAIN if archetype == "residential" else S.SIDEWALK, lane_width=lane, cross=cross,
                      rails_x=rails, road_color=f.jitter((0.36, 0.35, 0.37), 0.12),
                      walk_color=f.jitter((0.62, 0.58, 0.55), 0.1),
                      terrain_color=f.jitter((0.4, 0.45, 0.22), 0.15))  # fmt: skip
    cam_x = lane * 0.5 if rails is None else max(lane * 0.5, rails + 2.8)
    z0 = -10.0 - 1.5 * frames
    spans = [(z0, z_end)] if not cross else [(z0, cross[0][0] - 1), (cross[0][1] + 1, z_end)]
    residential = archetype == "residential"
    for side in (-1, 1):
        front = outer + (f.u(4, 10) if residential else f.u(0, 0.5))
        for a, b in spans:
            f.buildings(side, front, a, b, (5, 11) if residential else (8, 28), 0.7 if residential else 0.35,
                        (3, 9) if residential else (1, 4))  # fmt: skip
            if residential:
                f.barrier(side * (outer + 0.2), a, b) if rng.random() < 0.6 else f.hedge(side * (outer + 0.6), a, b)
        for a, b in spans:  # street furniture along the kerb
            z = a + f.u(0, 10)
            while z < b:
                f.pole(side * (road_half + strip + 0.5), z, f.u(6, 9), side)
                z += f.u(18, 35)
            z = a + f.u(0, 20)
            while z < b:
                f.sign(side * (road_half + strip + 0.4), z)
                z += f.u(25, 60)
            z = a + f.u(0, 8)
            tree_gap = (8, 14) if residential or archetype == "crowd" else (15, 45)
            while z < b:
                if rng.random() < (0.9 if residential else 0.5):
                    f.tree(side * (road_half + strip + (walk * 0.5 if strip == 0 else -strip / 2)), z)
                z += f.u(*tree_gap)
    f.far_row(z_end)
    if cross:
        for x_far in (-f.u(60, 90), f.u(60, 90)):
            f.b.add((x_far, -12, sum(cross[0]) / 2), (6, 12, 12), S.BUILDING, S.FACADE,
                    f.jitter(f.pick(FACADES)), param=(3.4, 2.5, 0.5, 0.5))  # fmt: skip
        zc0, zc1 = cross[0]
        for sx in (-1, 1):
            f.traffic_light(sx * (road_half + 0.6), zc0 - 1.5, sx, overhead=sx == 1)
            f.traffic_light(sx * (road_half + 0.6), zc1 + 1.5, sx, overhead=False)
        for _ in range(int(rng.integers(1, 4))):  # crossing traffic
            d = rng.choice([-1, 1])
            v = d * f.u(0.4, 1.2)
            f.car(-d * f.u(8, 30), (zc0 + zc1) / 2 + d * lane / 2, np.pi / 2 * d, vel=(v, 0, 0))
        for _ in range(int(rng.integers(2, 7))):  # pedestrians on the crosswalk
            f.person(f.u(-road_half, road_half), zc0 - 2.5 + f.u(-1, 1), vel=(rng.choice([-1, 1]) * 0.08, 0, 0))
    # parked cars along the kerbs
    park_p = {"parked_row": 0.9, "street": 0.35, "residential": 0.3}.get(archetype, 0.25)
    for side in (-1, 1):
        for a, b in spans:
            z = a + f.u(0, 4)
            while z < b - 3:
                if rng.random() < park_p:
                    f.car(side * (road_half - 1.1), z + 2.5, f.pick([0.0, np.pi]) + rng.normal(0, 0.03))
                elif archetype == "parked_row" and rng.random() < 0.5:
                    f.cycle(side * (road_half + strip + 0.9), z + 1, motor=rng.random() < 0.4, ridden=False)
                z += f.u(5.2, 6.5)
    # moving traffic: oncoming on the left, same direction ahead
    for _ in range(int(rng.integers(0, 4))):
        f.car(-lane / 2 if rails is None else rails - 2.8, f.u(10, 90), np.pi, vel=(0, 0, -f.u(0.3, 1.2)))
    if rng.random() < 0.4:
        f.car(cam_x, f.u(14, 40), 0.0, vel=(0, 0, f.u(0.4, 1.4)))
    # pedestrians on the pavements
    n_people = {"crowd": (25, 50), "tram": (4, 10), "intersection": (3, 8)}.get(archetype, (0, 5))
    z_people = (4, 45) if archetype == "crowd" else (4, 70)
    for _ in range(int(rng.integers(*n_people))):
        side = rng.choice([-1, 1])
        x = side * f.u(road_half + strip + 0.5, outer - 0.3)
        moving = rng.random() < 0.6
        f.person(x, f.u(*z_people), vel=(0, 0, rng.choice([-1, 1]) * f.u(0.05, 0.1)) if moving else (0, 0, 0))
    # cyclists and motorcyclists: mostly in crowds
    n_riders = {"crowd": (3, 8), "parked_row": (0, 2)}.get(archetype, (0, 1))
    for _ in range(int(rng.integers(*n_riders) + (rng.random() < 0.15))):
        motor = rng.random() < 0.3
        vel = (0, 0, f.u(0.2, 0.6) * rng.choice([-1, 1]))
        f.cycle(road_half - 2.6 + f.u(-0.3, 0.3), f.u(8, 60), vel=vel, motor=motor)
    # large vehicles: mostly in their own archetype
    n_big = (1, 4) if archetype == "large_vehicles" else (0, 1 + (rng.random() < 0.05))
    for _ in range(int(rng.integers(*n_big))):
        kind = S.BUS if rng.random() < 0.5 else S.TRUCK
        if rng.random() < 0.5:
            f.big_vehicle(kind, -lane / 2, f.u(20, 90), np.pi, vel=(0, 0, -f.u(0.2, 1.0)))
        else:
            f.big_vehicle(kind, road_half - 1.4, f.u(15, 80), 0.0)
    if archetype == "tram":
        f.big_vehicle(S.TRAIN, rails, f.u(25, 70), np.pi, vel=(0, 0, -f.u(0.0, 0.6)))
    height = f.u(1.3, 1.6)
    return S.Scene(archetype=archetype, ground=ground, boxes=f.b.freeze(), lighting=_lighting(rng),
                   cam_to_world=_camera_path(rng, cam_x, height, frames), seed=int(rng.integers(1 << 30)),
                   facades=np.array(f.facades).reshape(-1, 5))  # fmt: skip
