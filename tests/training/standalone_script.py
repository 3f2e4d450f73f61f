"""Train one NB201 arch standalone (:func:`fewshot.training.standalone.train_archs`) on shuffled,
augmented synthetic data: ``python standalone_script.py OUT DATA_PATH``. The kill-and-resume test
runs it through ``resume_driver.py`` (killed mid-epoch) and again (resumed)."""

from __future__ import annotations

import sys
from pathlib import Path

from fewshot.data import make_datamodule
from fewshot.spaces.nb201 import Arch
from fewshot.training.standalone import StandaloneSettings, train_archs
from fewshot.training.trainer import TrainerSettings

ARCH = Arch.from_string(
    "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|none~0|none~1|avg_pool_3x3~2|"
)
SETTINGS = StandaloneSettings(C=4, N=1, epochs=3, seed=3)
HARDWARE = TrainerSettings(accelerator="cpu", devices=1, progress_bar=False, threads=1)


def main(out: Path, data_path: str) -> None:
    data = make_datamodule(
        "synthetic", batch_size=8, seed=3, num_train=40, num_test=8, image_size=8,
        data_path=data_path,
    )  # fmt: skip
    train_archs([ARCH], data, SETTINGS, out, hardware=HARDWARE)


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
