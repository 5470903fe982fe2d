"""Nothing above an exercise gives its answer away: no code cell before the learner's skeleton
imports, calls or prints the reference solution, or writes out its defining formula."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

# notebook -> [(the skeleton's first line, patterns no code cell above it may contain)]
EXERCISES = {
    "01_convolution_by_hand.ipynb": [
        ("def my_conv2d(", [r"\bconv2d_loops\b", r"getsource\(\s*ops\.conv2d\b"]),
    ],
    "02_padding_and_stride.ipynb": [
        ("def my_output_size(", [r"\bconv_output_size\b", r"//\s*stride\s*\+\s*1",
                                 r"-\s*kernel\)\s*//"]),
    ],
    "03_pooling.ipynb": [
        ("def my_max_pool2d(", [r"\b(max_|avg_)?pool2d_loops\b"]),
    ],
    "04_building_the_cnn.ipynb": [
        ("class Net(nn.Module):", [r"\bBlogNet\b", r"Linear\(\s*320", r"\bconv_output_size\b",
                                   r"getsource"]),
    ],
    "05_training.ipynb": [
        ("def train_one_epoch(", [r"(?<![\w.])train_epoch\b", r"\btrain_epoch_logged\b",
                                  r"getsource"]),
        ("def accuracy(", [r"(?<![\w.])evaluate\b", r"getsource\(\s*evaluate"]),
    ],
    "06_backpropagation_by_hand.ipynb": [
        ("def my_max_pool2d_backward(", [r"(?<!my_)max_pool2d_backward\b"]),
        ("def my_conv2d_backward(", [r"(?<!my_)conv2d_backward\b"]),
    ],
    "07_what_the_network_sees.ipynb": [
        ("def my_receptive_field(", [r"(?<!my_)receptive_field\b(?!_)",
                                     r"\(\s*k(ernel)?\s*-\s*1\s*\)\s*\*\s*jump"]),
    ],
    "08_going_further.ipynb": [
        ("def my_train_validation_split(", [r"(?<!my_)train_validation_split\b"]),
    ],
    "09_outgrowing_one_device.ipynb": [
        ("def average_gradients(", [r"distributed\.average_gradients",
                                    r"import\s.*\baverage_gradients\b"]),
    ],
}


def code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text())["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def test_every_notebook_with_an_exercise_is_listed():
    with_exercises = {path.name for path in NOTEBOOKS.glob("*.ipynb")
                      if any("NotImplementedError" in source for source in code_cells(path))}
    assert with_exercises == set(EXERCISES)


@pytest.mark.parametrize("notebook, skeleton, patterns",
                         [(name, skeleton, patterns) for name, exercises in EXERCISES.items()
                          for skeleton, patterns in exercises])
def test_no_code_above_an_exercise_gives_its_answer(notebook, skeleton, patterns):
    sources = code_cells(NOTEBOOKS / notebook)
    position = next((i for i, source in enumerate(sources) if skeleton in source), None)
    assert position is not None, f"{notebook}: no code cell starts the exercise {skeleton!r}"
    assert "NotImplementedError" in sources[position], "the skeleton raises NotImplementedError"
    found = [(i, pattern) for i, source in enumerate(sources[:position]) for pattern in patterns
             if re.search(pattern, source)]
    assert not found, (f"{notebook}: code cells above {skeleton!r} give its answer away "
                       f"(code cell number, pattern): {found}")
