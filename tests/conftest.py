import os

# Rendering tests need a headless GL backend; MuJoCo must see this before it is imported.
os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

# Tests use small networks, where a second thread buys nothing and, on a busy 2-core machine,
# oversubscription makes torch many times slower.
torch.set_num_threads(1)


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def pointmass_skills(tmp_path_factory):
    """4 DIAYN skills on PointMass-v0, seeded, trained once for every test that needs real
    skills (about 30 s on one core); tests must not write into it."""
    from run import main

    d = tmp_path_factory.mktemp("pointmass_skills")
    code = main(["pretrain", "--env", "PointMass-v0", "--skills", "4", "--total-steps", "4000",
                 "--learning-starts", "1000", "--hidden", "64", "64", "--disc-hidden", "64", "64",
                 "--lr", "1e-3", "--eval-every", "4000", "--seed", "0", "--run-dir", str(d),
                 "--no-progress", "--no-visualize"])
    assert code == 0
    return d


@pytest.fixture(scope="session")
def rendering():
    """Skips a test, saying why, only where no headless OpenGL backend exists (CI has EGL)."""
    from analysis.video import RenderingUnavailable, check_rendering

    try:
        check_rendering()
    except RenderingUnavailable as e:
        pytest.skip(f"no headless OpenGL backend: {e}")
