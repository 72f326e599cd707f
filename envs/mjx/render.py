"""Rendering MJX rollouts to frames and GIFs with `mujoco.Renderer` (for notebooks).

    states = ...                       # a rollout: State with a leading time axis (T, ...)
    frames = render_rollout(env, states, camera="track")   # list of (H, W, 3) uint8
    save_gif(frames, "rollout.gif", fps=1 / env.spec.dt)

MuJoCo picks its OpenGL backend from the `MUJOCO_GL` environment variable when `mujoco` is
first imported: `egl` (headless, GPU or Mesa), `osmesa` (software, needs libOSMesa) or
`glfw` (a display). Where none works, `render_rollout` raises `RenderingUnavailableError`
saying so, instead of MuJoCo's FatalError or a crash inside PyOpenGL.
"""

from __future__ import annotations

import os
from typing import Any

import mujoco
import numpy as np


class RenderingUnavailableError(RuntimeError):
    """No OpenGL backend could create a rendering context."""


def make_renderer(mj_model: mujoco.MjModel, height: int = 240,
                  width: int = 320) -> mujoco.Renderer:
    """A `mujoco.Renderer`, or `RenderingUnavailableError` explaining how to get one."""
    try:
        return mujoco.Renderer(mj_model, height, width)
    except Exception as err:  # FatalError, EGLError, AttributeError from PyOpenGL, ...
        backend = os.environ.get("MUJOCO_GL", "<unset: glfw, needs a display>")
        raise RenderingUnavailableError(
            f"Cannot render: no OpenGL backend works here (MUJOCO_GL={backend}; "
            f"{type(err).__name__}: {err}). Set MUJOCO_GL=egl (headless GPU or Mesa EGL) or "
            "MUJOCO_GL=osmesa (software rendering, needs libOSMesa) before the first "
            "`import mujoco`, e.g. `MUJOCO_GL=egl python ...` or `os.environ['MUJOCO_GL'] = "
            "'egl'` at the top of the notebook. Offscreen size is limited by the model's "
            "<visual><global offwidth offheight>.") from err


def render_rollout(env: Any, states: Any, camera: str | int | None = None,
                   height: int = 240, width: int = 320) -> list[np.ndarray]:
    """Frames (H, W, 3) uint8 of a rollout of one env.

    Args:
      env: an MJX env (or a wrapper of one): its `mj_model` is used.
      states: `State` whose `env_state` (`MjxState`) has a leading time axis, e.g. the stacked
        states of a `lax.scan`; or a list of single states.
      camera: camera name or id of the model (None: the free default camera).
      height, width: image size in pixels.
    """
    mj_model = env.mj_model
    if isinstance(states, list | tuple):
        qpos = np.stack([np.asarray(s.env_state.qpos) for s in states])
    else:
        qpos = np.asarray(states.env_state.qpos)
    if qpos.ndim != 2 or qpos.shape[1] != mj_model.nq:
        raise ValueError(f"expected qpos of shape (T, {mj_model.nq}) (one env over time), got "
                         f"{qpos.shape}; index a batched rollout first.")
    renderer = make_renderer(mj_model, height, width)
    data = mujoco.MjData(mj_model)
    frames = []
    try:
        for q in qpos:
            data.qpos[:] = q
            mujoco.mj_forward(mj_model, data)
            if camera is None:
                renderer.update_scene(data)
            else:
                renderer.update_scene(data, camera=camera)
            frames.append(renderer.render().copy())
    finally:
        renderer.close()
    return frames


def save_gif(frames: list[np.ndarray], path: str, fps: float = 20.0) -> str:
    """Writes frames (H, W, 3) uint8 as a looping GIF (Pillow); returns the path."""
    from PIL import Image

    if not frames:
        raise ValueError("no frames to save.")
    images = [Image.fromarray(np.asarray(f, np.uint8)) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:],
                   duration=max(int(round(1000.0 / fps)), 20), loop=0)
    return path
