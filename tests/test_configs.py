"""Every shipped config (configs/*.yaml and the default job) parses and names registered strategies with
valid parameters, so a benchmark does not fail on a typo after hours of data loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from genclf.config import RunConfig, load_config
from genclf.run.experiment import validate_run_config

REPO = Path(__file__).resolve().parents[1]
CONFIGS = [*sorted((REPO / "configs").glob("*.yaml")), REPO / "src" / "genclf" / "configs" / "default.yaml"]


def test_configs_are_shipped():
    names = {path.stem for path in CONFIGS}
    assert {"default", "fashion_low_data", "mnist_imbalance", "mnist_ssl_100"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_is_valid(path):
    config = load_config(RunConfig, path)
    assert config.seeds, f"{path.name} has no seeds"
    validate_run_config(config)
