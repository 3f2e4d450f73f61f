"""tools/device_check.py's data phase (the data path benchmark on the accelerator), run on CPU
tensors: the code path a lent GPU runs, with the device's tensors on the CPU."""

from __future__ import annotations

import time

from tests.conftest import load_tool


def test_data_phase_reports_images_per_second_of_every_path_and_scoring(tmp_path):
    dc = load_tool("device_check")
    config = dc.parse_config(
        dc.DeviceCheckConfig, ["--quick", "--data-root", str(tmp_path / "absent")]
    )
    flags, _ = dc.data_flags(config)
    ctx = dc.Context(config, dc.Size.of(True), flags, tmp_path, "cpu", 1, time.monotonic())
    result = dc.phase_data(ctx, "gpu", 600.0)
    assert result["returncode"] == 0, result["output_tail"]
    (point,) = result["points"]
    assert (point["C"], point["N"], point["image_size"]) == (4, 1, 16)
    for mode in ("random", "loader", "tensor"):
        assert point[f"{mode}_images_per_s"] > 0
    assert point["tensor_over_random"] > 0 and result["scoring"][0]["archs_per_s"] > 0
