"""The synthetic world: exact depth + shaded RGB from a pinhole camera, and ray-cast LiDAR scans.

Frames: world is REP 103 (x forward, y left, z up; ground ``z = 0``), cameras use the optical frame (x right,
y down, z forward), LiDARs REP 103 (x forward, y left, z up). Depth is float32 metres along the optical z axis
and exact up to float32 round-off. **Sky and anything beyond ``max_depth_m`` are ``+inf``** (REP 117: beyond
range; there is no surface there); depth is never NaN or zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import numpy.typing as npt

from mono_depth_ros.core import procedural_texture as tex
from mono_depth_ros.core import raycast
from mono_depth_ros.core.camera import PinholeIntrinsics
from mono_depth_ros.core.errors import ConfigError
from mono_depth_ros.core.geometry import RigidTransform, pixel_rays
from mono_depth_ros.core.synthetic_scene import RoadCurve, Scene, generate_scene

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
DEFAULT_MAX_DEPTH_M = 200.0
_SUN_IN_WORLD = np.array([0.45, 0.3, 0.84], dtype=np.float32) / np.float32(np.linalg.norm([0.45, 0.3, 0.84]))
_AMBIENT, _DIFFUSE, _HAZE_M = 0.45, 0.6, 400.0
_CHUNK_ELEMENTS = 1 << 21  # rays x primitives per all-against-all block (bounds memory at ~8 MB per temporary)


class SurfaceKind(IntEnum):
    """What a ray hit."""

    NONE = 0
    GROUND = 1
    WALL = 2
    BOX = 3
    CYLINDER = 4


@dataclass(frozen=True)
class RayHits:
    """Nearest hits of R rays (filled in place while casting).

    Attributes:
        t: (R,) float32 ray parameter of the hit (hit point = origin + t * direction); +inf = no hit.
        kind: (R,) uint8 :class:`SurfaceKind`.
        index: (R,) int32 primitive index within its kind (0 for the ground, -1 = no hit).
    """

    t: F32
    kind: npt.NDArray[np.uint8]
    index: npt.NDArray[np.int32]


@dataclass(frozen=True)
class Frame:
    """A rendered view.

    Attributes:
        rgb: (H, W, 3) uint8, RGB order.
        depth_m: (H, W) float32 metres along the optical z axis; +inf = sky or beyond ``max_depth_m``.
        intrinsics: the pinhole intrinsics it was rendered with.
        world_from_cam: camera pose (camera optical frame → world).
    """

    rgb: npt.NDArray[np.uint8]
    depth_m: F32
    intrinsics: PinholeIntrinsics
    world_from_cam: RigidTransform


@dataclass(frozen=True)
class LidarScan:
    """One LiDAR revolution, ordered by azimuth (from -180°), then ring.

    Rays that hit nothing (sky) or whose range falls outside the limits give no point.

    Attributes:
        points_in_lidar: (N, 3) float32 metres in the LiDAR frame (REP 103: x forward, y left, z up).
        ring: (N,) uint16 beam index, 0 = lowest elevation (Velodyne convention).
        intensity: (N,) float32 in [0, 1]: albedo luminance times the cosine of the incidence angle.
    """

    points_in_lidar: F32
    ring: npt.NDArray[np.uint16]
    intensity: F32


def _primitives(scene: Scene) -> tuple[tuple[SurfaceKind, raycast.Walls | raycast.Boxes | raycast.Cylinders], ...]:
    return ((SurfaceKind.WALL, scene.walls), (SurfaceKind.BOX, scene.boxes), (SurfaceKind.CYLINDER, scene.cylinders))


def _intersect(prims: raycast.Walls | raycast.Boxes | raycast.Cylinders, directions: F32) -> F32:
    origin = np.zeros(3, dtype=directions.dtype)
    if isinstance(prims, raycast.Walls):
        return raycast.intersect_walls(origin, directions, prims)
    if isinstance(prims, raycast.Boxes):
        return raycast.intersect_boxes(origin, directions, prims)
    return raycast.intersect_cylinders(origin, directions, prims)


class SyntheticWorld:
    """A static procedural street (or a hand-made :class:`Scene`), deterministic from ``seed``.

    Args:
        seed: seeds the layout (when ``scene`` is None) and the texture noise.
        length_m: road length to populate, from x = 0 (objects extend 150 m further, for look-ahead).
        scene: use this scene instead of generating one.
    """

    def __init__(self, seed: int = 0, *, length_m: float = 400.0, scene: Scene | None = None) -> None:
        if length_m <= 0:
            msg = f"length_m must be > 0, got {length_m}"
            raise ConfigError(msg)
        rng = np.random.default_rng(seed)
        self.seed = seed
        self.noise = tex.NoiseTile.from_rng(rng)
        self.scene = scene if scene is not None else generate_scene(rng, RoadCurve.random(rng), -40.0, length_m + 150)

    @property
    def road(self) -> RoadCurve | None:
        """The road the scene was laid out along (None for a hand-made scene without one)."""
        return self.scene.road

    def cast_rays(self, origin_in_world: npt.ArrayLike, directions_in_world: F32, max_t: float = np.inf) -> RayHits:
        """Nearest hit of every ray from one origin (all rays against all primitives within ``max_t``).

        Args:
            origin_in_world: (3,) ray origin, metres.
            directions_in_world: (R, 3) float32 directions (any non-zero length; ``t`` is in their units).
            max_t: primitives that cannot be hit before this ``t`` (for unit directions: metres) are skipped;
                hits on the others are reported even beyond ``max_t`` (callers clip).

        Returns:
            :class:`RayHits` in ray order.
        """
        origin = np.asarray(origin_in_world, dtype=np.float64).reshape(3)
        directions = np.asarray(directions_in_world, dtype=np.float32)
        hits = self._ground_hits(origin, directions)
        longest = float(np.max(np.linalg.norm(directions, axis=1), initial=0.0))
        for kind, prims in _primitives(self.scene):
            lo, hi = prims.aabb()
            distance_m = np.linalg.norm(np.clip(origin, lo, hi) - origin, axis=1)  # origin to nearest AABB point
            candidates = np.flatnonzero(distance_m <= max_t * longest)
            if candidates.size == 0:
                continue
            local = prims.take(candidates).shifted(origin)
            step = max(1, _CHUNK_ELEMENTS // candidates.size)
            for start in range(0, directions.shape[0], step):
                t_all = _intersect(local, directions[start : start + step])
                best = np.argmin(t_all, axis=1)
                t = t_all[np.arange(t_all.shape[0]), best]
                self._keep_nearer(hits, slice(start, start + step), t, kind, candidates[best])
        return hits

    def _ground_hits(self, origin: F64, directions: F32) -> RayHits:
        count = directions.shape[0]
        hits = RayHits(np.full(count, np.inf, np.float32), np.zeros(count, np.uint8), np.full(count, -1, np.int32))
        if self.scene.ground:
            t = raycast.intersect_ground(np.zeros(3, np.float32), directions, ground_z=-float(origin[2]))
            self._keep_nearer(hits, slice(None), t, SurfaceKind.GROUND, np.zeros(count, np.int64))
        return hits

    @staticmethod
    def _keep_nearer(hits: RayHits, rows: slice, t: F32, kind: SurfaceKind, index: npt.NDArray[np.int64] | int) -> None:
        nearer = t < hits.t[rows]
        np.copyto(hits.t[rows], t, where=nearer)
        np.copyto(hits.kind[rows], kind, where=nearer, casting="unsafe")
        np.copyto(hits.index[rows], index, where=nearer, casting="unsafe")

    def render(
        self, world_from_cam: RigidTransform, intrinsics: PinholeIntrinsics, max_depth_m: float = DEFAULT_MAX_DEPTH_M
    ) -> Frame:
        """Render RGB and exact depth for a pinhole camera at ``world_from_cam`` (optical frame → world).

        Each primitive is tested only against the pixels inside its projected bounding box (exact: a pixel
        outside it cannot see the primitive). Objects entirely beyond ``max_depth_m`` are not drawn; depth beyond
        it is +inf, while the RGB image still shows the ground up to the horizon.
        """
        if not max_depth_m > 0:
            msg = f"max_depth_m must be > 0, got {max_depth_m}"
            raise ConfigError(msg)
        height, width = intrinsics.height, intrinsics.width
        ray_x, ray_y = pixel_rays(intrinsics)
        rotation = world_from_cam.rotation.astype(np.float32)  # camera ray (x, y, 1): optical z = 1, so t = depth
        dirs_image = ray_y[:, None, None] * rotation[:, 1] + rotation[:, 2]
        dirs_image = ray_x[None, :, None] * rotation[:, 0] + dirs_image
        dirs_in_world = dirs_image.reshape(-1, 3)
        origin = world_from_cam.translation
        hits = self._ground_hits(origin, dirs_in_world)
        t_image, kind_image = hits.t.reshape(height, width), hits.kind.reshape(height, width)
        index_image = hits.index.reshape(height, width)
        cam_from_world = world_from_cam.inverse()
        for kind, prims in _primitives(self.scene):
            if len(prims) == 0:
                continue
            rects = _screen_rects(prims, cam_from_world, intrinsics, max_depth_m)
            local = prims.shifted(origin)
            for i in np.flatnonzero((rects[:, 1] > rects[:, 0]) & (rects[:, 3] > rects[:, 2])):
                u0, u1, v0, v1 = rects[i]
                t = _intersect(local.take(np.array([i])), dirs_image[v0:v1, u0:u1].reshape(-1, 3))
                t = t.reshape(v1 - v0, u1 - u0)
                nearer = t < t_image[v0:v1, u0:u1]
                np.copyto(t_image[v0:v1, u0:u1], t, where=nearer)
                np.copyto(kind_image[v0:v1, u0:u1], kind, where=nearer, casting="unsafe")
                np.copyto(index_image[v0:v1, u0:u1], i, where=nearer, casting="unsafe")
        depth_m = t_image.copy()
        depth_m[depth_m > max_depth_m] = np.inf
        rgb = self._shade(origin, dirs_in_world, hits)
        rgb_u8 = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8).reshape(height, width, 3)
        return Frame(rgb_u8, depth_m, intrinsics, world_from_cam)

    def lidar_scan(
        self,
        world_from_lidar: RigidTransform,
        beams: int = 16,
        vertical_fov_deg: tuple[float, float] = (-15.0, 15.0),
        azimuth_step_deg: float = 0.2,
        min_range_m: float = 0.5,
        max_range_m: float = 100.0,
        range_noise_m: float = 0.0,
        rng: np.random.Generator | None = None,
    ) -> LidarScan:
        """Ray-cast a spinning LiDAR at ``world_from_lidar`` (REP 103 LiDAR frame → world).

        Args:
            beams: number of beams (rings), evenly spaced over ``vertical_fov_deg`` (lowest, highest elevation).
            azimuth_step_deg: horizontal resolution; the scan covers 360° starting at azimuth -180° (behind).
            min_range_m, max_range_m: returns outside [min, max] are dropped.
            range_noise_m: standard deviation of Gaussian range noise (0 = exact points).
            rng: noise generator (default: seeded from the world seed).
        """
        low, high = vertical_fov_deg
        if beams < 1 or high < low or not 0 < azimuth_step_deg <= 360 or not 0 <= min_range_m < max_range_m:
            msg = (
                f"invalid LiDAR: beams={beams}, vertical_fov_deg={vertical_fov_deg}, azimuth_step_deg="
                f"{azimuth_step_deg}, range=[{min_range_m}, {max_range_m}]; need beams >= 1, low <= high, "
                f"0 < step <= 360, 0 <= min < max"
            )
            raise ConfigError(msg)
        elevation = np.deg2rad(np.linspace(low, high, beams))
        azimuth = np.deg2rad(-180.0 + azimuth_step_deg * np.arange(round(360.0 / azimuth_step_deg)))
        cos_el = np.cos(elevation)[None, :]
        dirs_in_lidar = np.stack(
            np.broadcast_arrays(
                cos_el * np.cos(azimuth)[:, None], cos_el * np.sin(azimuth)[:, None], np.sin(elevation)[None, :]
            ),
            axis=-1,
        ).reshape(-1, 3)
        ring = np.tile(np.arange(beams, dtype=np.uint16), azimuth.size)
        dirs_in_world = (dirs_in_lidar @ world_from_lidar.rotation.T).astype(np.float32)
        hits = self.cast_rays(world_from_lidar.translation, dirs_in_world, max_t=max_range_m)
        range_m = hits.t.astype(np.float64)
        if range_noise_m > 0:
            generator = rng if rng is not None else np.random.default_rng(self.seed)
            range_m = range_m + generator.normal(0.0, range_noise_m, range_m.shape)
        keep = np.isfinite(hits.t) & (range_m >= min_range_m) & (range_m <= max_range_m)
        normals, albedo = self._surface(world_from_lidar.translation, dirs_in_world, hits)
        luminance = albedo @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        intensity = luminance * np.abs(np.einsum("ij,ij->i", normals, dirs_in_world[np.isfinite(hits.t)]))
        keep_hits = keep[np.isfinite(hits.t)]
        points = (dirs_in_lidar[keep] * range_m[keep, None]).astype(np.float32)
        return LidarScan(points, ring[keep], np.clip(intensity[keep_hits], 0, 1).astype(np.float32))

    def _surface(self, origin: F64, directions: F32, hits: RayHits) -> tuple[F32, F32]:
        """Unit normals and albedo (M, 3) float32 of the M rays with a finite hit, in ray order."""
        hit = np.isfinite(hits.t)
        d, kind, index = directions[hit], hits.kind[hit], hits.index[hit].astype(np.intp)
        points = origin.astype(np.float32) + hits.t[hit, None] * d  # float32: ~3e-5 m resolution at 500 m
        normals = np.zeros_like(points)
        albedo = np.zeros_like(points)
        scene = self.scene
        m = kind == SurfaceKind.GROUND
        normals[m, 2] = 1.0
        albedo[m] = tex.ground_albedo(points[m], self.noise, scene.road)
        if np.any(m := kind == SurfaceKind.WALL):
            walls = scene.walls.take(index[m])
            normals[m] = raycast.wall_normals(d[m], walls)
            along = np.einsum("ij,ij->i", points[m, :2] - walls.start_xy, walls.tangent_xy)
            albedo[m] = tex.wall_albedo(along, points[m, 2], scene.wall_albedo[index[m]], index[m], self.noise)
        if np.any(m := kind == SurfaceKind.BOX):
            normals[m] = raycast.box_normals(points[m], scene.boxes.take(index[m]))
            albedo[m] = tex.box_albedo(points[m], normals[m], scene.box_albedo[index[m]], self.noise)
        if np.any(m := kind == SurfaceKind.CYLINDER):
            poles = scene.cylinders.take(index[m])
            normals[m] = raycast.cylinder_normals(points[m], poles)
            albedo[m] = tex.cylinder_albedo(points[m], poles.center_xy, scene.cylinder_albedo[index[m]], self.noise)
        return normals, albedo

    def _shade(self, origin: F64, directions: F32, hits: RayHits) -> F32:
        """Linear RGB (R, 3) float32 in [0, 1]: Lambert sun + ambient, distance haze, sky where nothing was hit."""
        hit = np.isfinite(hits.t)
        rgb = np.empty((directions.shape[0], 3), dtype=np.float32)
        rgb[~hit] = tex.sky_colour(directions[~hit])
        normals, albedo = self._surface(origin, directions, hits)
        light = _AMBIENT + _DIFFUSE * np.clip(normals @ _SUN_IN_WORLD, 0.0, None)
        distance_m = hits.t[hit] * np.linalg.norm(directions[hit], axis=1)
        haze = (1.0 - np.exp(-distance_m / _HAZE_M))[:, None]
        horizon = tex.sky_colour(np.array([[1.0, 0.0, 0.0]], dtype=np.float32))
        rgb[hit] = albedo * light[:, None] * (1.0 - haze) + horizon * haze
        return np.clip(rgb, 0.0, 1.0)


def _screen_rects(
    prims: raycast.Walls | raycast.Boxes | raycast.Cylinders,
    cam_from_world: RigidTransform,
    intrinsics: PinholeIntrinsics,
    max_depth_m: float,
) -> npt.NDArray[np.intp]:
    """(P, 4) pixel rectangles ``u0, u1, v0, v1`` (half-open) bounding each primitive's projected AABB.

    Empty (u0 >= u1 or v0 >= v1) for primitives behind the camera, outside the image or beyond ``max_depth_m``;
    the whole image for primitives that straddle the camera plane.
    """
    lo, hi = prims.aabb()
    bits = np.array([[i & 1, (i >> 1) & 1, (i >> 2) & 1] for i in range(8)], dtype=bool)
    corners_in_world = np.where(bits[None], hi[:, None, :], lo[:, None, :])
    corners = cam_from_world.apply(corners_in_world)
    z = corners[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = intrinsics.fx * corners[..., 0] / z + intrinsics.cx
        v = intrinsics.fy * corners[..., 1] / z + intrinsics.cy
    width, height = intrinsics.width, intrinsics.height
    rects = np.column_stack(
        [
            np.floor(np.min(u, axis=1)),
            np.ceil(np.max(u, axis=1)) + 1,
            np.floor(np.min(v, axis=1)),
            np.ceil(np.max(v, axis=1)) + 1,
        ]
    )
    rects = np.clip(np.nan_to_num(rects), [0, 0, 0, 0], [width, width, height, height]).astype(np.intp)
    straddles = np.min(z, axis=1) <= 1e-3
    rects[straddles] = (0, width, 0, height)
    rects[(np.max(z, axis=1) <= 0) | (np.min(z, axis=1) > max_depth_m)] = 0
    return np.asarray(rects, dtype=np.intp)
