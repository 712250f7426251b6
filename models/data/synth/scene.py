"""Scene description for the synthetic street world: a ground layout, a list of boxes, lighting, a camera path.

Coordinates: world and camera both use x right, y down, z forward (the camera convention of `method.md` §2.2),
the ground is the plane y = 0 and the street runs along +z. Everything is in metres. Objects are unions of boxes
that may turn about the vertical axis (yaw) and move with a constant velocity per frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# Train ids used by the renderer (order of `cityscapes.CITYSCAPES_CLASSES`).
ROAD, SIDEWALK, BUILDING, WALL, FENCE, POLE, LIGHT, SIGN, VEGETATION, TERRAIN, SKY = range(11)
PERSON, RIDER, CAR, TRUCK, BUS, TRAIN, MOTORCYCLE, BICYCLE = range(11, 19)

# Materials: how a box is textured (see `render.shade_boxes`).
FACADE, CONCRETE, SLATS, METAL, PLATE, LAMP, FOLIAGE, CLOTH, SKIN, PAINT, GLASS, BARK = range(12)


@dataclass
class Boxes:
    """Growing list of boxes; `freeze()` turns it into arrays. One object may own several boxes (`obj`)."""

    center: list = field(default_factory=list)  # (3,) at frame offset 0
    half: list = field(default_factory=list)  # (3,) half sizes in the box's own frame
    yaw: list = field(default_factory=list)  # rotation about +y (radians; +z turns toward +x)
    vel: list = field(default_factory=list)  # (3,) metres per frame
    cls: list = field(default_factory=list)  # train id
    mat: list = field(default_factory=list)  # material
    color: list = field(default_factory=list)  # (3,) base albedo in [0, 1]
    param: list = field(default_factory=list)  # (4,) material parameters (window grid, sign colour, ...)
    obj: list = field(default_factory=list)  # object id (texture seed; boxes of one object share it)
    n_objects: int = 0

    def new_object(self) -> int:
        self.n_objects += 1
        return self.n_objects

    def add(self, center, half, cls, mat, color, *, yaw=0.0, vel=(0.0, 0.0, 0.0), param=(0, 0, 0, 0), obj=None):
        """Add one box; `center` is its centre at frame offset 0. Returns the object id."""
        obj = self.new_object() if obj is None else obj
        self.center.append(center)
        self.half.append(half)
        self.yaw.append(yaw)
        self.vel.append(vel)
        self.cls.append(cls)
        self.mat.append(mat)
        self.color.append(color)
        self.param.append(param)
        self.obj.append(obj)
        return obj

    def freeze(self) -> BoxArrays:
        f32 = np.float32
        return BoxArrays(
            center=np.asarray(self.center, np.float64).reshape(-1, 3),
            half=np.asarray(self.half, np.float64).reshape(-1, 3),
            yaw=np.asarray(self.yaw, np.float64),
            vel=np.asarray(self.vel, np.float64).reshape(-1, 3),
            cls=np.asarray(self.cls, np.uint8),
            mat=np.asarray(self.mat, np.int16),
            color=np.asarray(self.color, f32).reshape(-1, 3),
            param=np.asarray(self.param, f32).reshape(-1, 4),
            obj=np.asarray(self.obj, np.int64),
        )


@dataclass(frozen=True)
class BoxArrays:
    center: np.ndarray  # (N, 3)
    half: np.ndarray  # (N, 3)
    yaw: np.ndarray  # (N,)
    vel: np.ndarray  # (N, 3)
    cls: np.ndarray  # (N,) uint8 train ids
    mat: np.ndarray  # (N,)
    color: np.ndarray  # (N, 3)
    param: np.ndarray  # (N, 4)
    obj: np.ndarray  # (N,)

    def __len__(self) -> int:
        return len(self.yaw)


@dataclass(frozen=True)
class Ground:
    """The street's ground layout, symmetric about x = 0 unless stated."""

    road_half: float  # |x| below this is road
    grass_strip: float  # terrain strip between road and sidewalk (0 = none)
    sidewalk_outer: float  # |x| below this (and beyond road + strip) is sidewalk
    beyond: int  # train id beyond the sidewalk: SIDEWALK (plaza) or TERRAIN (verges, yards)
    lane_width: float
    cross: tuple[tuple[float, float], ...] = ()  # z-spans of crossing streets (road at every x)
    rails_x: float | None = None  # tram track centre
    road_color: tuple[float, float, float] = (0.36, 0.35, 0.37)
    walk_color: tuple[float, float, float] = (0.62, 0.58, 0.55)
    terrain_color: tuple[float, float, float] = (0.42, 0.45, 0.25)


@dataclass(frozen=True)
class Lighting:
    """Per-sequence look: sun, ambient, sky, haze, exposure and white balance."""

    sun_dir: np.ndarray  # (3,) unit vector toward the sun (y < 0 is up)
    sun: float
    ambient: float
    sky_zenith: np.ndarray  # (3,)
    sky_horizon: np.ndarray  # (3,)
    clouds: float  # cloud cover 0..1
    fog_distance: float  # metres for 63% haze
    exposure: float
    tint: np.ndarray  # (3,) white balance gains


@dataclass(frozen=True)
class Scene:
    archetype: str
    ground: Ground
    boxes: BoxArrays
    lighting: Lighting
    cam_to_world: dict[int, np.ndarray]  # frame offset -> 4×4
    seed: int
    # street-side buildings that cast sun shadows: rows of (side ±1, |x| of the front face, z0, z1, height)
    facades: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
