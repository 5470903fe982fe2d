"""The widget notebooks in classic Notebook 6.5.7 and ipywidgets 7.7.1 (Colab's), in Chromium.

Runs only in the Colab-pinned environment that ``.ci/colab/run`` builds (``notebook`` 6 and
ipywidgets 7 installed there, not in the main environment, where it is skipped). One Notebook
server (quick mode, a temporary copy of ``notebooks/``) and one headless Chromium serve every
notebook that shows a widget. Each test runs all cells, then checks: no error output, every
widget a live view, each explorer's picture changes when its first slider moves by keyboard and
when it is dragged with the mouse, the digit pad inks and reads a stroke drawn with the mouse and
reads an uploaded picture. Run: ``bash .ci/colab/run`` (or its pytest line, ``-s`` for timings).
"""

import importlib.metadata
import io
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.test_browser import (
    NOTEBOOK_DIR,
    Lab,
    check_digit_pad,
    headless_chromium,
    image_sources,
    stop_process_group,
    wait_until,
    wait_until_steady,
)

WIDGET_NOTEBOOKS = [path for path in sorted(NOTEBOOK_DIR.glob("*.ipynb"))
                    if "application/vnd.jupyter.widget-view+json" in path.read_text("utf-8")]
ROOT_WIDGETS = ".output_subarea.jupyter-widgets-view > .jupyter-widgets"
SLIDER_HANDLE = ".ui-slider-handle"  # ipywidgets 7's jQuery UI slider
SERVER_START_S = 120
RUN_ALL_S = 900
RESPONSE_S = 60
DRAG_PX = 40


def version(name):
    """The installed version of a distribution, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, in the Colab-pinned environment only."""
    found = {name: version(name) for name in ("notebook", "ipywidgets")}
    if not (found["notebook"] or "").startswith("6.") \
            or not (found["ipywidgets"] or "").startswith("7."):
        pytest.skip(f"not the Colab-pinned environment ({found}): run bash .ci/colab/run")
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def server(browser, tmp_path_factory):
    """Classic Notebook on a copy of the notebooks, quick mode, its state in a temp folder."""
    base = tmp_path_factory.mktemp("classic")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    notebook = Lab(root, base / "server.log")  # the REST API is the same as JupyterLab's
    env = dict(os.environ, MNIST_TUTORIAL_QUICK="1", JUPYTER_RUNTIME_DIR=str(base / "runtime"),
               JUPYTER_CONFIG_DIR=str(base / "config"))  # sys.prefix's nbextensions stay on
    command = [sys.executable, "-m", "notebook", "--no-browser", "--allow-root",
               "--ip=127.0.0.1", f"--port={notebook.port}", "--NotebookApp.port_retries=0",
               f"--NotebookApp.token={notebook.token}", f"--NotebookApp.notebook_dir={root}"]
    with open(notebook.log_path, "wb") as log:
        notebook.process = subprocess.Popen(command, env=env, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
    try:
        wait_until(notebook.is_up, SERVER_START_S, "the Notebook server to answer")
        yield notebook
        notebook.shut_down_kernels()
    finally:
        stop_process_group(notebook.process)


@pytest.fixture
def page(browser, server):
    """A fresh page that reaches only the server."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", lambda route: route.continue_()
                  if route.request.url.startswith(server.url) else route.abort())
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
    server.shut_down_kernels()


def run_all(page, server, name):
    """Open the notebook, wait for its kernel, run all cells and wait until all have run."""
    page.goto(f"{server.url}/notebooks/{name}?token={server.token}")
    wait_until(lambda: page.evaluate("() => !!(window.Jupyter && Jupyter.notebook"
                                     " && Jupyter.notebook.kernel"
                                     " && Jupyter.notebook.kernel.is_connected())"),
               RESPONSE_S * 2, f"the kernel of {name} to connect")
    page.evaluate("() => Jupyter.notebook.execute_all_cells()")
    wait_until_steady(lambda: page.evaluate(
        "() => Jupyter.notebook.get_cells().every(cell => cell.cell_type !== 'code'"
        " || (cell.input_prompt_number !== '*' && cell.input_prompt_number !== undefined"
        " && cell.input_prompt_number !== null))") and server.kernel_is_idle(name),
        3, RUN_ALL_S, f"{name} to finish running")


def errors(page):
    """Error outputs and stderr outputs with a traceback."""
    texts = page.locator(".output_error, .output_stderr").all_inner_texts()
    return [text for text in texts if "Error" in text or "Traceback" in text]


def widget_problems(page):
    """Widget outputs that are not live views."""
    text = page.locator("#notebook-container").inner_text()
    return [message for message in ("Error displaying widget", "Loading widget...",
                                    "Loading widget\u2026") if message in text]


def check_explorer(page, root, index, kernel_is_idle):
    """The picture changes when the first slider moves by keyboard, then by a mouse drag."""
    handle = root.locator(SLIDER_HANDLE).first
    handle.scroll_into_view_if_needed()
    before = image_sources(root)
    handle.focus()
    handle.press("ArrowRight")
    handle.press("ArrowLeft")
    handle.press("ArrowLeft")  # at the maximum, Right alone would not move it
    wait_until(lambda: image_sources(root) != before, RESPONSE_S,
               f"explorer {index} to redraw after a key press on its slider")
    wait_until_steady(kernel_is_idle, 1, RESPONSE_S, "the kernel to finish redrawing")
    before = image_sources(root)
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    track = root.locator(".ui-slider").first.bounding_box()
    target = x + DRAG_PX if x + DRAG_PX < track["x"] + track["width"] else x - DRAG_PX
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(target, y, steps=8)
    page.mouse.up()
    wait_until(lambda: image_sources(root) != before, RESPONSE_S,
               f"explorer {index} to redraw after its slider was dragged")


def digit_picture():
    """A PNG of an MNIST-like 7, white on black, as a learner might upload."""
    from PIL import Image, ImageDraw

    picture = Image.new("L", (140, 140))
    ImageDraw.Draw(picture).line([(30, 30), (110, 30), (60, 120)], fill=255, width=14)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def check_upload(root, tmp_path):
    """An uploaded picture reaches Python and is read."""
    status = root.locator(".widget-html-content")
    path = tmp_path / "seven.png"
    path.write_bytes(digit_picture())
    root.locator("button", has_text="Clear").click()
    wait_until(lambda: "The network reads a" not in " ".join(status.all_inner_texts()),
               RESPONSE_S, "Clear to wipe the prediction")
    root.locator("input[type=file]").first.set_input_files(str(path))
    wait_until(lambda: "The network reads a" in " ".join(status.all_inner_texts()),
               RESPONSE_S, "the digit pad to read the uploaded picture")


@pytest.mark.browser
@pytest.mark.parametrize("notebook", WIDGET_NOTEBOOKS, ids=[p.stem for p in WIDGET_NOTEBOOKS])
def test_widget_notebook_in_classic_notebook(server, page, notebook, tmp_path):
    """All cells run; views render; explorers and the digit pad respond to mouse and keyboard."""
    started = time.monotonic()
    try:
        run_all(page, server, notebook.name)
        assert not errors(page), "error output:\n" + "\n---\n".join(errors(page))
        wait_until(lambda: not widget_problems(page), RESPONSE_S,
                   lambda: f"the widgets to render ({widget_problems(page)})")
        roots = page.locator(ROOT_WIDGETS)
        assert roots.count() > 0, "the notebook shows widgets, but none is rendered"
        explorers = pads = 0
        for index in range(roots.count()):
            root = roots.nth(index)
            if root.locator("canvas").count():
                check_digit_pad(page, root)
                check_upload(root, tmp_path)
                pads += 1
            elif root.locator(SLIDER_HANDLE).count() and root.locator("img").count():
                check_explorer(page, root, index, lambda: server.kernel_is_idle(notebook.name))
                explorers += 1
        assert not errors(page), "error output:\n" + "\n---\n".join(errors(page))
        print(f"\n{notebook.name} in Notebook {version('notebook')} (ipywidgets "
              f"{version('ipywidgets')}): {roots.count()} widgets, {explorers} explorers, "
              f"{pads} pads checked in {time.monotonic() - started:.0f} s")
    finally:
        page.screenshot(path=tmp_path / f"{notebook.stem}.png")
        print(f"screenshot: {tmp_path / notebook.stem}.png")
