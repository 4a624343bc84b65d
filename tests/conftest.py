import os

# Rendering tests need a headless GL backend; MuJoCo must see this before it is imported.
os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

# Tests use small networks, where a second thread buys nothing and, on a busy 2-core machine,
# oversubscription makes torch many times slower.
torch.set_num_threads(1)
