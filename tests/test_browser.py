"""Every notebook in JupyterLab, in a real browser: it runs, its widgets render and respond.

One JupyterLab server (quick mode, on a temporary copy of ``notebooks/``) and one headless
Chromium serve all the notebooks; each notebook is one test. The test runs all cells from
JupyterLab's Run menu, then checks that every code cell ran without an error, that every widget
is a live view, that moving a slider of each explorer redraws its picture, and that the digit pad
reads a digit drawn with the mouse. A screenshot per notebook lands in a temporary folder (its
path is printed: ``pytest -s``).

Needs Chromium (``/usr/bin/chromium``, Debian's ``chromium`` package) and the ``playwright``
package; without them the test is skipped, except under CI (``CI=true``), where it fails.
Run it alone with ``pytest tests/test_browser.py -m browser``.
"""

import contextlib
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--disable-dev-shm-usage"]  # containers often have a tiny /dev/shm
# JupyterLab settings for the test: every cell in the page (no windowing), the kernel starts
# without asking (some notebooks name no kernel), and no news or update checks.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none",
                                               "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                    "checkForUpdates": False},
}
SERVER_START_S = 120
KERNEL_START_S = 120
RUN_ALL_S = 900  # quick mode takes 10 s to 3 min a notebook; 07 may train a model first
WIDGET_RESPONSE_S = 60
ROOT_WIDGETS = ".jp-OutputArea-output > .jupyter-widgets"
SLIDER_HANDLES = ".noUi-handle, .ui-slider-handle, input[type=range]"  # ipywidgets 8, 7, plain
ERROR_LINE = re.compile(r"^\s*\w*(Error|Exception)\b.*:", re.MULTILINE)


# --- requirements --------------------------------------------------------------------------------
def skip_or_fail(reason):
    """Skip the test on a learner's machine; fail under CI, which must not skip it silently."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


def chromium_path():
    """Debian's Chromium, else any ``chromium`` on the PATH, else None."""
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


# --- helpers -------------------------------------------------------------------------------------
def wait_until(condition, timeout, what, interval=0.5):
    """Poll ``condition()`` until it returns something truthy, or fail after ``timeout`` seconds.

    ``what`` says what was awaited; a function gives it at the time of failure.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            what = what() if callable(what) else what
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_until_steady(condition, seconds, timeout, what):
    """Wait until ``condition()`` has held for ``seconds`` in a row (at most ``timeout`` s)."""
    since = None

    def steady():
        nonlocal since
        since = (since or time.monotonic()) if condition() else None
        return since is not None and time.monotonic() - since >= seconds

    wait_until(steady, timeout, what, interval=0.5)


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def saved_widget_views(notebook):
    """How many widget views the committed notebook's saved outputs hold."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return sum("application/vnd.jupyter.widget-view+json" in output.get("data", {})
               for cell in cells for output in cell.get("outputs", []))


class Lab:
    """A running JupyterLab server: its URL, token, folder and process."""

    def __init__(self, root, log_path):
        self.root, self.log_path = root, log_path
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def api(self, path, method="GET"):
        """Call the server's REST API; the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def is_up(self):
        """Whether the server answers (fails the test when its process has died)."""
        if self.process.poll() is not None:
            pytest.fail(f"jupyter lab exited ({self.process.returncode}); log:\n{self.log()}")
        try:
            return self.api("status") is not None
        except OSError:
            return False

    def log(self):
        """The server's log so far."""
        return self.log_path.read_text(errors="replace")

    def kernel_is_idle(self, notebook_name):
        """Whether the notebook has a session whose kernel is idle."""
        return any(session["path"] == notebook_name
                   and session["kernel"]["execution_state"] == "idle"
                   for session in self.api("sessions"))

    def shut_down_kernels(self):
        """End every session, so that kernels of finished notebooks free their memory."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")


# --- fixtures ------------------------------------------------------------------------------------
@contextlib.contextmanager
def headless_chromium():
    """Headless Chromium driven by Playwright; skips without either (fails under CI=true)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the playwright package is not installed")
    executable = chromium_path()
    if executable is None:
        skip_or_fail("Chromium is not installed (on Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, for the whole module."""
    if importlib.util.find_spec("jupyterlab") is None:
        skip_or_fail("JupyterLab is not installed")
    with headless_chromium() as chromium:
        yield chromium


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab in quick mode on a copy of the notebooks; settings and state in a temp folder."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    shutil.copytree(NOTEBOOK_DIR, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = base / "settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    server = Lab(root, base / "server.log")
    # The kernels inherit this environment: quick mode, PYTHONPATH, MNIST_TUTORIAL_DATA.
    env = dict(os.environ, MNIST_TUTORIAL_QUICK="1",
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), JUPYTER_CONFIG_DIR=str(base / "config"),
               JUPYTER_DATA_DIR=str(base / "data"))  # no user-installed kernels or extensions
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ip=127.0.0.1", f"--port={server.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={server.token}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={settings}"]
    with open(server.log_path, "wb") as log:
        server.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_until(server.is_up, SERVER_START_S, "jupyter lab to answer")
        yield server
        server.shut_down_kernels()
    finally:
        stop_process_group(server.process)


def stop_process_group(process):
    """Terminate a process and everything in its process group, killing what lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    """The folder for one screenshot per notebook."""
    folder = tmp_path_factory.mktemp("screenshots")
    print(f"\nbrowser test screenshots: {folder}")
    return folder


@pytest.fixture
def page(browser, lab):
    """A fresh browser page that reaches only the server; its kernels end with the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route(re.compile(r"^(?!http://127\.0\.0\.1[:/])"), lambda route: route.abort())
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    context.close()
    lab.shut_down_kernels()


# --- in the notebook -----------------------------------------------------------------------------
def kernel_is_idle(page, lab, name):
    """Whether the notebook's kernel is idle, for the server and in the notebook's toolbar."""
    indicator = page.locator(".jp-NotebookPanel .jp-Notebook-ExecutionIndicator").first
    return lab.kernel_is_idle(name) and indicator.get_attribute("data-status") == "idle"


def open_notebook(page, lab, name):
    """Open the notebook in a fresh JupyterLab workspace and wait for its kernel to be idle.

    The toolbar says idle also before the page connects to the kernel: waiting until both
    agree for two seconds in a row rides over that.
    """
    page.goto(f"{lab.url}/lab/tree/{name}?reset&token={lab.token}")
    page.locator(".jp-NotebookPanel").wait_for(timeout=60_000)
    wait_until_steady(lambda: kernel_is_idle(page, lab, name), 2, KERNEL_START_S,
                      f"the kernel of {name} to start")


def menu(page, title, item):
    """Choose ``item`` from the menu ``title`` of JupyterLab's menu bar."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{title}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{item}$")).click()


def run_all_cells(page):
    """Show the code of every cell (hidden code shows no prompt), then run all cells."""
    menu(page, "View", "Expand All Code")
    menu(page, "Run", "Run All Cells")


def code_cell_prompts(page):
    """The input prompts of the code cells, like ``[3]:``, ``[*]:`` or ``[ ]:``."""
    return [text.strip() for text in
            page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()]


def wait_for_run_to_finish(page, lab, name):
    """Wait until no cell is queued or running (``[*]``) and the kernel is idle, 3 s in a row."""
    wait_until_steady(lambda: "[*]:" not in code_cell_prompts(page)
                      and kernel_is_idle(page, lab, name), 3, RUN_ALL_S,
                      f"{name} to finish running")


def error_outputs(page):
    """Texts of stderr outputs (errors are shown as stderr too) that hold a traceback or error."""
    texts = page.locator('.jp-Notebook .jp-RenderedText[data-mime-type="application/'
                         'vnd.jupyter.stderr"]').all_inner_texts()
    return [text for text in texts if "Traceback" in text or ERROR_LINE.search(text)]


def widget_problems(page):
    """Widget outputs that are not live views: an error, or still loading."""
    text = page.locator(".jp-Notebook").inner_text()
    return [message for message in ("Error displaying widget", "Loading widget...",
                                    "Loading widget\u2026") if message in text]


def image_sources(root):
    """The ``src`` of every ``img`` inside a widget (plots in Image or Output widgets)."""
    return root.locator("img").evaluate_all("images => images.map(image => image.src)")


def slider_value(handle):
    """A slider's value as the page shows it (noUiSlider's ``aria-valuenow``, or the input's)."""
    return handle.evaluate("handle => handle.getAttribute('aria-valuenow') ?? handle.value")


def move_slider(root):
    """Move the widget's first slider one step by keyboard (left when it is at its maximum).

    Returns the value before and after.
    """
    handle = root.locator(SLIDER_HANDLES).first
    handle.scroll_into_view_if_needed()
    before = slider_value(handle)
    at_maximum = before == handle.evaluate(
        "handle => handle.getAttribute('aria-valuemax') ?? handle.max")
    handle.focus()  # as a click would, without the risk of dragging it
    handle.press("ArrowLeft" if at_maximum else "ArrowRight")
    return before, slider_value(handle)


def lit_pixels(canvas):
    """How many pixels of the canvas are bright, read from the canvas in the browser."""
    return canvas.evaluate("""canvas => {
        const {data} = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
        let lit = 0;
        for (let i = 0; i < data.length; i += 4) lit += data[i] > 127;
        return lit;
    }""")


def draw_stroke(page, canvas):
    """Draw a vertical stroke down the middle of the canvas with the mouse, like a ``1``.

    Returns the canvas's bright pixels just before the button is released: the ink the browser
    drew while the mouse moved, with no time for a round trip to the kernel.
    """
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for fraction in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        page.mouse.move(x, box["y"] + box["height"] * fraction, steps=3)
    ink = lit_pixels(canvas)
    page.mouse.up()
    return ink


# --- the test ------------------------------------------------------------------------------------
@pytest.mark.browser
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_in_jupyterlab(browser, lab, page, screenshots, notebook):
    """Run all cells in JupyterLab; no errors, live widgets, explorers and digit pad respond."""
    started = time.monotonic()
    try:
        open_notebook(page, lab, notebook.name)
        run_all_cells(page)
        wait_for_run_to_finish(page, lab, notebook.name)
        ran = time.monotonic() - started

        errors = error_outputs(page)
        assert not errors, "error output:\n" + "\n---\n".join(errors)
        not_run = [f"#{number} {prompt or '(no prompt)'}"
                   for number, prompt in enumerate(code_cell_prompts(page), start=1)
                   if not re.fullmatch(r"\[\d+\]:", prompt)]
        assert not not_run, f"code cells that did not run (numbered among code cells): {not_run}"

        wait_until(lambda: not widget_problems(page), WIDGET_RESPONSE_S,
                   lambda: f"the widgets to render (the page shows {widget_problems(page)})")
        roots = page.locator(ROOT_WIDGETS)
        if saved_widget_views(notebook):
            assert roots.count() > 0, "the saved notebook shows widgets, but none is rendered"

        explorers = pads = 0
        for index in range(roots.count()):
            root = roots.nth(index)
            if root.locator(SLIDER_HANDLES).count() and root.locator("img").count():
                check_explorer(root, index)
                explorers += 1
            if root.locator("canvas").count():
                check_digit_pad(page, root)
                pads += 1
        wait_until_steady(lambda: kernel_is_idle(page, lab, notebook.name), 1, WIDGET_RESPONSE_S,
                          "the kernel to finish redrawing the widgets")
        print(f"\n{notebook.name}: ran in {ran:.0f} s; {roots.count()} widgets, {explorers} "
              f"explorers and {pads} digit pads checked; {time.monotonic() - started:.0f} s in all")
    finally:
        page.screenshot(path=screenshots / f"{notebook.stem}.png")


def check_explorer(root, index):
    """Moving the explorer's first slider one step redraws its picture."""
    before = image_sources(root)
    old_value, new_value = move_slider(root)
    assert new_value != old_value, f"widget {index}: the slider did not move from {old_value}"
    wait_until(lambda: image_sources(root) != before, WIDGET_RESPONSE_S,
               f"widget {index} to redraw its picture after its slider moved")


def check_digit_pad(page, root):
    """The pad inks a mouse stroke at once, Python receives it, Predict reads it, Clear wipes it.

    The canvas's ``aria-label`` counts the strokes Python holds (it sends them back to the page).
    """
    status = root.locator(".widget-html-content")
    canvas = root.locator("canvas").first

    def strokes():
        return canvas.get_attribute("aria-label")

    assert strokes() == "Drawing pad: 0 strokes" and lit_pixels(canvas) == 0
    ink = draw_stroke(page, canvas)
    released = time.monotonic()
    assert ink > 0, "the pad showed no ink while the mouse drew (the browser draws it)"
    wait_until(lambda: strokes() == "Drawing pad: 1 stroke", WIDGET_RESPONSE_S,
               lambda: f"Python to receive the stroke (the pad says {strokes()!r})")
    print(f"\ndigit pad: {ink} pixels inked while drawing; the stroke reached Python and came "
          f"back {time.monotonic() - released:.2f} s after the mouse was released")
    root.locator("button", has_text="Predict").click()
    wait_until(lambda: "The network reads a" in " ".join(status.all_inner_texts()),
               WIDGET_RESPONSE_S, "the digit pad to show a prediction")
    root.locator("button", has_text="Clear").click()
    wait_until(lambda: strokes() == "Drawing pad: 0 strokes" and lit_pixels(canvas) == 0,
               WIDGET_RESPONSE_S, "Clear to wipe the pad's canvas")


# --- pictures that follow the slider -------------------------------------------------------------
EXPLORERS_SETUP = """\
import hashlib, json
import ipywidgets as widgets
import torch
from mnist_tutorial.data import load_split
from mnist_tutorial.kernels import HORIZONTAL_EDGES
from mnist_tutorial.models import BlogNet
from mnist_tutorial.widgets.convolution_explorer import KernelPlayground, SlidingWindowStepper
from mnist_tutorial.widgets.feature_explorer import FeatureExplorer
from mnist_tutorial.widgets.gradient_explorer import GradientExplorer
from mnist_tutorial.widgets.padding_explorer import PaddingStrideExplorer
from mnist_tutorial.widgets.pooling_explorer import PoolingExplorer

torch.manual_seed(0)
digits = load_split("mnist", train=False, quick=True)
digits = type(digits)(digits.images[:40], digits.labels[:40])
explorers = {
    "sliding window stepper": SlidingWindowStepper(digits.images[0, 0, 5:11, 8:14],
                                                   HORIZONTAL_EDGES, padding=1),
    "kernel playground": KernelPlayground(digits.images[:30], digits.labels[:30],
                                          preset="sharpen"),
    "padding/stride explorer": PaddingStrideExplorer(size=7, kernel=3, padding=1),
    "pooling explorer": PoolingExplorer(digits.images[0], size=2),
    "feature explorer": FeatureExplorer(BlogNet().eval(), digits),
    "gradient explorer": GradientExplorer(BlogNet(), digits.images[:30, 0]),
}


def shown():
    \"\"\"Each explorer's slider values by label, and digests of its picture and of png().\"\"\"
    def digest(png):
        return hashlib.sha256(bytes(png)).hexdigest()

    return {name: {"sliders": {control.description: control.value
                               for control in explorer.controls.values()
                               if isinstance(control, widgets.IntSlider)},
                   "shown": digest(explorer.widget.children[-1].value),
                   "png": digest(explorer.png())}
            for name, explorer in explorers.items()}
"""
PRESSES = 12  # isolated key presses per explorer, for the median
BURST = 20  # key presses in a row, as a held arrow key sends them
KEY_REPEAT_S = 0.033  # a held key repeats about 30 times a second
# In the page: the time of every key press in the widget and of every new picture.
WATCH_PICTURE = """root => {
    root.__keys = []; root.__pictures = [];
    root.addEventListener('keydown', () => root.__keys.push(performance.now()), true);
    new MutationObserver(() => root.__pictures.push(performance.now()))
        .observe(root.querySelector('img'), {attributes: true, attributeFilter: ['src']});
}"""
SHOWN_DIGEST = """async root => {
    const bytes = await (await fetch(root.querySelector('img').src)).arrayBuffer();
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
    return Array.from(digest, byte => byte.toString(16).padStart(2, '0')).join('');
}"""


def bouncing_keys(value, low, high, count):
    """``count`` arrow keys that each move a slider at ``value`` (turning at its ends); the
    keys and the value they end on."""
    keys, step = [], 1 if value < high else -1
    for _ in range(count):
        if not low <= value + step <= high:
            step = -step
        value += step
        keys.append("ArrowRight" if step > 0 else "ArrowLeft")
    return keys, value


def pictures_in(root):
    """How many new pictures the page has shown in the widget since ``WATCH_PICTURE``."""
    return root.evaluate("root => root.__pictures.length")


def no_new_picture(root):
    """A condition for ``wait_until_steady``: no new picture since the last call.

    The kernel draws a picture from the browser after it has reported itself idle (the
    coalescing in ``mnist_tutorial.widgets.engine``), so its being idle says nothing here.
    """
    seen = [-1]

    def condition():
        count = pictures_in(root)
        unchanged, seen[0] = count == seen[0], count
        return unchanged

    return condition


def latencies(root, presses):
    """Milliseconds from each of the last ``presses`` key presses to the next new picture."""
    return root.evaluate("""(root, presses) => root.__keys.slice(-presses).map(key =>
        (root.__pictures.find(time => time > key) ?? NaN) - key)""", presses)


def explorers_notebook(path):
    """A notebook that shows the six explorers, one a cell, and then reports what they show."""
    import nbformat

    cells = [nbformat.v4.new_code_cell(EXPLORERS_SETUP)]
    cells += [nbformat.v4.new_code_cell(f"explorers[{name!r}]") for name in
              ("sliding window stepper", "kernel playground", "padding/stride explorer",
               "pooling explorer", "feature explorer", "gradient explorer")]
    cells.append(nbformat.v4.new_code_cell("print(json.dumps(shown()))"))
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(notebook, path)


def report_of_kernel(page, lab, name):
    """Run the notebook's last cell again: what each explorer shows, as the kernel sees it."""
    cell = page.locator(".jp-Notebook .jp-CodeCell").last
    old = cell.locator(".jp-InputPrompt").inner_text()
    cell.locator(".jp-InputPrompt").click()
    page.keyboard.press("Control+Enter")
    wait_until(lambda: re.fullmatch(r"\[\d+\]:", prompt := cell.locator(
        ".jp-InputPrompt").inner_text().strip()) and prompt != old.strip(), WIDGET_RESPONSE_S,
        "the report cell to run again")
    wait_until_steady(lambda: kernel_is_idle(page, lab, name), 1, WIDGET_RESPONSE_S,
                      "the kernel to finish the report")
    return json.loads(cell.locator(".jp-OutputArea-output").last.inner_text())


@pytest.mark.browser
def test_pictures_follow_slider_keys(browser, lab, page, tmp_path):
    """Each explorer's picture follows its first slider's arrow keys, and ends on the last value.

    Prints the milliseconds from a key press to the next new picture (measured in the page:
    a key listener and a MutationObserver on the picture), as the median of ``PRESSES``
    isolated presses and of the ``BURST`` presses of a held key; the figures also go to
    ``slider_latency.json`` in the test's temporary folder. Nothing asserts on time.
    """
    from mnist_tutorial.data import data_root, missing_files

    if missing_files("mnist", data_root()):
        skip_or_fail(f"MNIST is not in {data_root()}: set MNIST_TUTORIAL_DATA")
    name = "slider_latency.ipynb"
    explorers_notebook(lab.root / name)
    open_notebook(page, lab, name)
    run_all_cells(page)
    wait_for_run_to_finish(page, lab, name)
    assert not error_outputs(page), error_outputs(page)
    wait_until(lambda: not widget_problems(page), WIDGET_RESPONSE_S, "the widgets to render")
    roots = page.locator(ROOT_WIDGETS)
    names = list(report_of_kernel(page, lab, name))
    assert roots.count() == len(names)

    figures, finals = {}, {}
    for index, explorer in enumerate(names):
        root = roots.nth(index)
        slider = root.locator(".widget-slider").first
        label, handle = slider.locator(".widget-label").inner_text(), slider.locator(".noUi-handle")
        handle.scroll_into_view_if_needed()
        root.evaluate(WATCH_PICTURE)
        handle.focus()
        low, high = (round(float(handle.get_attribute(f"aria-value{end}")))
                     for end in ("min", "max"))
        value = round(float(slider_value(handle)))
        keys, value = bouncing_keys(value, low, high, PRESSES)
        for key in keys:  # one at a time: each picture is drawn before the next key
            count = pictures_in(root)
            handle.press(key)
            wait_until(lambda root=root, count=count: pictures_in(root) > count,
                       WIDGET_RESPONSE_S, f"the {explorer}'s picture after {key}",
                       interval=0.02)
            time.sleep(0.2)
        isolated = latencies(root, PRESSES)
        keys, value = bouncing_keys(value, low, high, BURST)
        count = pictures_in(root)
        for key in keys:  # as a held key: the next before the picture is drawn
            handle.press(key)
            time.sleep(KEY_REPEAT_S)
        wait_until_steady(no_new_picture(root), 1, WIDGET_RESPONSE_S,
                          f"the {explorer} to finish drawing")
        held = latencies(root, BURST)
        last = root.evaluate("root => root.__pictures.at(-1) - root.__keys.at(-1)")
        pictures = pictures_in(root) - count
        assert round(float(slider_value(handle))) == value, f"{explorer}: not at {value}"
        finals[explorer] = (label, value, root.evaluate(SHOWN_DIGEST))
        figures[explorer] = {
            "median ms, isolated presses": statistics.median(isolated),
            "median ms, held key": statistics.median(held),
            "ms from the last held press to the last picture": last,
            "pictures for the held key's presses": pictures}
        assert all(time_ms > 0 for time_ms in isolated), f"{explorer}: {isolated}"

    path = tmp_path / "slider_latency.json"
    path.write_text(json.dumps(figures, indent=1))
    print(f"\nslider key to new picture ({PRESSES} isolated presses, {BURST} held; "
          f"the machine's load average: {os.getloadavg()[0]:.2f}), also in {path}:")
    for explorer, figure in figures.items():
        print(f"  {explorer:24} " + ", ".join(f"{label} {number:.0f}"
                                              for label, number in figure.items()))

    report = report_of_kernel(page, lab, name)  # the kernel's side of the same pictures
    for explorer, (label, value, digest) in finals.items():
        kernel = report[explorer]
        assert kernel["sliders"][label] == value, f"{explorer}: the kernel has {kernel}"
        assert digest == kernel["shown"] == kernel["png"], (
            f"{explorer}: the page does not show the picture of the final value {value}")
