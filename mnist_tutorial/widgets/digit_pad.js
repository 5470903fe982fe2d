// The digit pad's surface (an anywidget): draw a digit, or drop a picture of one.
//
// The ink is drawn here, in the browser, as the pointer moves (mouse, pen or finger): nothing
// goes to the kernel while drawing. When the stroke ends, its points (in pad pixels, 0 to
// `size`) go to Python in one message, {type: "stroke", points: [[x, y], ...]}; Python draws
// the image the network reads from them and sends the strokes it holds back in the synced
// trait `strokes`, which this view then shows (so a cleared pad, a refused stroke or a second
// view of the same pad all show what Python holds). A picture (file input or drag and drop) goes
// as {type: "upload", name, data_url}. No imports: the file runs offline, in any front end that
// anywidget supports (JupyterLab, Notebook, Colab; ipywidgets 7 or 8).

const MAX_SEND_BYTES = 4 * 1024 * 1024; // bigger files are shrunk first (a websocket message
const SHRUNK_SIDE = 1024; //               is at most 10 MiB in Jupyter Server)

function strokeCount(count) {
  return `Drawing pad: ${count} stroke${count === 1 ? "" : "s"}`;
}

function readAsDataURL(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function shrunkDataURL(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  const scale = Math.min(1, SHRUNK_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas.toDataURL("image/png");
}

async function sendFile(model, file) {
  const message = { type: "upload", name: file.name };
  try {
    message.data_url = file.size > MAX_SEND_BYTES ? await shrunkDataURL(file)
                                                  : await readAsDataURL(file);
  } catch (error) {
    const size = (file.size / 1024 / 1024).toFixed(1);
    message.error = `the browser could not read this ${size} MB file (${error}): ` +
                    "upload a PNG or JPEG";
  }
  model.send(message);
}

function render({ model, el }) {
  const size = model.get("size");
  const root = document.createElement("div");
  root.className = "mnist-pad";

  const canvas = document.createElement("canvas");
  canvas.className = "mnist-pad-canvas";
  canvas.width = canvas.height = size;
  canvas.setAttribute("role", "img");
  const pen = canvas.getContext("2d");

  const drop = document.createElement("label");
  drop.className = "mnist-pad-drop";
  const input = document.createElement("input");
  input.type = "file";
  input.accept = "image/*";
  const hint = document.createElement("span");
  hint.textContent = "Upload a photo of a digit, or drop it here";
  drop.append(input, hint);

  let current = null; // the stroke being drawn: its pointer and points

  function dot([x, y]) {
    pen.beginPath();
    pen.arc(x, y, model.get("line_width") / 2, 0, 2 * Math.PI);
    pen.fill();
  }
  function segment(start, end) { // a thick line with a round joint, as Python draws it
    pen.beginPath();
    pen.moveTo(...start);
    pen.lineTo(...end);
    pen.stroke();
    dot(end);
  }
  function paint(points) {
    dot(points[0]);
    for (let i = 1; i < points.length; i++) segment(points[i - 1], points[i]);
  }
  function redraw() {
    const strokes = model.get("strokes");
    pen.fillStyle = "black";
    pen.fillRect(0, 0, size, size);
    pen.fillStyle = pen.strokeStyle = "white";
    pen.lineWidth = model.get("line_width");
    pen.lineCap = pen.lineJoin = "round";
    strokes.forEach(paint);
    if (current) paint(current.points);
    canvas.setAttribute("aria-label", strokeCount(strokes.length));
  }
  function showDrawing() {
    canvas.style.display = model.get("drawing") ? "" : "none";
  }

  function padPoint(event) { // the pointer in pad pixels, however CSS scales the canvas
    const box = canvas.getBoundingClientRect();
    const round = (value) => Math.round(value * 10) / 10;
    return [round((event.clientX - box.left) * size / box.width),
            round((event.clientY - box.top) * size / box.height)];
  }
  function onDown(event) {
    if (current || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    canvas.setPointerCapture(event.pointerId); // moves outside the pad still reach it
    current = { id: event.pointerId, points: [padPoint(event)] };
    dot(current.points[0]);
  }
  function onMove(event) {
    if (!current || event.pointerId !== current.id) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    for (const each of events.length ? events : [event]) {
      const point = padPoint(each);
      const last = current.points[current.points.length - 1];
      if (point[0] === last[0] && point[1] === last[1]) continue;
      segment(last, point);
      current.points.push(point);
    }
  }
  function onUp(event) {
    if (!current || event.pointerId !== current.id) return;
    const points = current.points;
    current = null;
    model.send({ type: "stroke", points });
  }

  canvas.addEventListener("pointerdown", onDown);
  canvas.addEventListener("pointermove", onMove);
  canvas.addEventListener("pointerup", onUp);
  canvas.addEventListener("pointercancel", onUp);
  canvas.addEventListener("lostpointercapture", onUp);
  canvas.addEventListener("contextmenu", (event) => event.preventDefault());

  input.addEventListener("change", () => {
    if (input.files.length) sendFile(model, input.files[0]);
    input.value = ""; // the same file again is a new upload
  });
  drop.addEventListener("dragover", (event) => {
    event.preventDefault();
    drop.classList.add("mnist-pad-drop-over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("mnist-pad-drop-over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("mnist-pad-drop-over");
    if (event.dataTransfer.files.length) sendFile(model, event.dataTransfer.files[0]);
  });

  model.on("change:strokes", redraw);
  model.on("change:line_width", redraw);
  model.on("change:drawing", showDrawing);
  redraw();
  showDrawing();
  root.append(canvas, drop);
  el.append(root);
  return () => {
    model.off("change:strokes", redraw);
    model.off("change:line_width", redraw);
    model.off("change:drawing", showDrawing);
  };
}

export default { render };
