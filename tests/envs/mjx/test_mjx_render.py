"""Rendering: a clear error without an OpenGL backend; frames and a GIF where EGL works.

Each case runs in a subprocess, since MuJoCo picks its GL backend at import time.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import envs
    from envs.mjx.render import RenderingUnavailableError, render_rollout, save_gif

    env = envs.make("mjx/point-goal")
    state0 = env.reset(__import__("jax").random.key(0))
    qpos = state0.env_state.qpos
    states = [state0, state0.replace(env_state=state0.env_state.replace(qpos=qpos + 0.5))]
    try:
        frames = render_rollout(env, states, camera="top", height=48, width=64)
    except RenderingUnavailableError as err:
        print("UNAVAILABLE", err)
        sys.exit(0)
    assert len(frames) == 2 and frames[0].shape == (48, 64, 3), frames[0].shape
    assert frames[0].dtype == np.uint8
    assert np.abs(frames[0].astype(int) - frames[1].astype(int)).sum() > 0  # the point moved
    save_gif(frames, sys.argv[1], fps=10)
    print("RENDERED")
""")


def _run(backend: str, tmp_path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["MUJOCO_GL"] = backend
    result = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "out.gif")],
                            env=env, capture_output=True, text=True, timeout=300,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                os.path.dirname(os.path.abspath(__file__))))))
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_no_display_gives_clear_message(tmp_path):
    out = _run("glfw", tmp_path)  # glfw needs a display; none in the subprocess
    assert "UNAVAILABLE" in out, out
    assert "MUJOCO_GL=egl" in out and "osmesa" in out


def test_egl_renders_frames_and_gif_or_explains(tmp_path):
    out = _run("egl", tmp_path)
    if "UNAVAILABLE" in out:  # no EGL on this machine: the message must say what to do
        assert "MUJOCO_GL" in out
        return
    assert "RENDERED" in out, out
    gif = tmp_path / "out.gif"
    assert gif.exists() and gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
