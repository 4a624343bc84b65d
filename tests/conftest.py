import os

# Rendering tests need a headless GL backend; MuJoCo must see this before it is imported.
os.environ.setdefault("MUJOCO_GL", "egl")
