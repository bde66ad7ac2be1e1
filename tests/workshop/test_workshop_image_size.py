"""Image-size budget: CI fails when the CPU notebook image grows more than 20% past the size
recorded in images/size-budget.json (a big image is what makes a workshop's first logins wait).

Every run records each image's size and its largest layers in test-artifacts/image-sizes.json.
"""
from __future__ import annotations

import json

import pytest
from labclient import REPO_ROOT

BUDGET_FILE = REPO_ROOT / "images" / "size-budget.json"


def load_budget() -> dict:
    budget = json.loads(BUDGET_FILE.read_text())
    if not 0 < budget["max_growth"] < 1:
        raise ValueError(f"{BUDGET_FILE}: max_growth must be a fraction such as 0.20")
    return budget


def over_budget(sizes: dict[str, int], budget: dict) -> list[str]:
    """Messages for enforced images whose size exceeds budget * (1 + max_growth)."""
    problems = []
    growth = budget["max_growth"]
    for image, entry in budget["images"].items():
        if not entry.get("enforce") or image not in sizes:
            continue
        limit = entry["budget_bytes"] * (1 + growth)
        if sizes[image] > limit:
            problems.append(
                f"{image} is {sizes[image] / 1e9:.2f} GB, more than {growth:.0%} over its budget of "
                f"{entry['budget_bytes'] / 1e9:.2f} GB (limit {limit / 1e9:.2f} GB). Shrink it (see the "
                f"largest layers in test-artifacts/image-sizes.json) or raise budget_bytes in "
                f"images/size-budget.json in a commit that says why."
            )
    return problems


def test_budget_file_names_the_cpu_image_and_enforces_it():
    budget = load_budget()
    entry = budget["images"]["gluonlab/notebook:cpu"]
    assert entry["enforce"] is True and entry["budget_bytes"] > 100 * 2**20


def test_the_check_fails_past_the_allowed_growth_and_only_then():
    budget = {"max_growth": 0.2, "images": {"a:cpu": {"budget_bytes": 1000, "enforce": True},
                                            "b:hub": {"budget_bytes": 1000, "enforce": False}}}
    assert over_budget({"a:cpu": 1200, "b:hub": 5000}, budget) == []
    problems = over_budget({"a:cpu": 1201}, budget)
    assert len(problems) == 1 and "a:cpu" in problems[0] and "images/size-budget.json" in problems[0]


@pytest.mark.docker
def test_images_stay_within_their_size_budget(docker_client, notebook_image):
    budget = load_budget()
    report, sizes = {}, {}
    for name in budget["images"]:
        image = docker_client.images.get(name)
        sizes[name] = image.attrs["Size"]
        layers = sorted(image.history(), key=lambda layer: layer["Size"], reverse=True)[:5]
        report[name] = {
            "size_bytes": sizes[name],
            "budget_bytes": budget["images"][name]["budget_bytes"],
            "largest_layers": [{"mb": round(layer["Size"] / 1e6, 1), "created_by": layer["CreatedBy"][-160:]}
                               for layer in layers],
        }
    artifacts = REPO_ROOT / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "image-sizes.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({name: round(r["size_bytes"] / 1e9, 3) for name, r in report.items()}))
    problems = over_budget(sizes, budget)
    assert not problems, "\n".join(problems)
