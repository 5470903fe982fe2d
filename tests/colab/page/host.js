// The part of Colab's page that Colab itself provides, as far as its widget manager sees it.
//
// Colab runs each cell's outputs in a frame on another origin and gives the widget manager in
// that frame its kernel through messages (the manager's WidgetEnvironment: getModelState,
// openCommChannel, renderOutput). This page does the same with a Jupyter server's kernel:
// it executes code, hands each cell's outputs to a fresh frame (frame.html, on another origin),
// keeps every widget model's state as the kernel opens and updates it, and carries comm
// messages between the kernel and the frames in both directions, buffers included.
// The test drives it with window.colab (run, problems); bundled with @jupyterlab/services.
import {KernelManager, ServerConnection} from '@jupyterlab/services';

const parameters = new URLSearchParams(location.search);
const FRAME_URL = parameters.get('frame');
const FRAME_ORIGIN = new URL(FRAME_URL).origin;
const WIDGET_TARGET = 'jupyter.widget';

const models = new Map(); // comm id -> {comm, modelName, modelModule, modelModuleVersion, state}
const frames = new Map(); // frame window -> {iframe, ready, queue, comms: Set of comm ids}
const problems = []; // what went wrong outside a cell's own outputs (callback errors, ...)
let kernel;

/** A comm buffer as an ArrayBuffer of its own (what the manager's IComm promises). */
function ownBuffer(buffer) {
  if (buffer instanceof ArrayBuffer) return buffer;
  return buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
}

/** The widget state of a comm message with its binary buffers put back where they belong. */
function stateWithBuffers(data, buffers) {
  const state = {...(data.state || {})};
  (data.buffer_paths || []).forEach((path, index) => {
    let target = state;
    for (const key of path.slice(0, -1)) {
      target[key] = Array.isArray(target[key]) ? [...target[key]] : {...target[key]};
      target = target[key];
    }
    target[path[path.length - 1]] = new DataView(ownBuffer(buffers[index]));
  });
  return state;
}

function post(frameWindow, message, transfer = []) {
  const frame = frames.get(frameWindow);
  if (!frame.ready) frame.queue.push([message, transfer]);
  else frameWindow.postMessage(message, FRAME_ORIGIN, transfer);
}

/** Every frame that shows a model of this comm gets the kernel's message for it. */
function broadcast(commId, message) {
  for (const [frameWindow, frame] of frames) {
    if (frame.comms.has(commId)) {
      const buffers = (message.buffers || []).map((buffer) => ownBuffer(buffer).slice(0));
      post(frameWindow, {...message, buffers});
    }
  }
}

function watchComm(comm, model) {
  models.set(comm.commId, model);
  comm.onMsg = (message) => {
    const data = message.content.data;
    if (data.method === 'update') {
      Object.assign(model.state, stateWithBuffers(data, message.buffers || []));
    }
    broadcast(comm.commId, {kind: 'comm-msg', commId: comm.commId, data,
                            buffers: message.buffers || []});
  };
  comm.onClose = () => {
    models.delete(comm.commId);
    broadcast(comm.commId, {kind: 'comm-close', commId: comm.commId});
  };
}

/** A comm the kernel opened: a widget model (ipywidgets 7 puts its module names in the state). */
function onCommOpen(comm, message) {
  const data = message.content.data;
  const state = stateWithBuffers(data, message.buffers || []);
  watchComm(comm, {comm, modelName: state._model_name, modelModule: state._model_module,
                   modelModuleVersion: state._model_module_version, state});
}

/** Requests from a frame's widget manager (its WidgetEnvironment and IComm calls). */
async function onFrameMessage(event) {
  const frame = frames.get(event.source);
  if (!frame || event.origin !== FRAME_ORIGIN) return;
  const request = event.data;
  const reply = (result) => post(event.source, {kind: 'reply', id: request.id, result});
  if (request.kind === 'ready') {
    frame.ready = true;
    for (const [message, transfer] of frame.queue.splice(0)) {
      event.source.postMessage(message, FRAME_ORIGIN, transfer);
    }
  } else if (request.kind === 'height') {
    frame.iframe.style.height = `${request.height}px`;
  } else if (request.kind === 'model-state') {
    const model = models.get(request.modelId);
    if (!model) return reply(null);
    frame.comms.add(request.modelId);
    const {modelName, modelModule, modelModuleVersion, state} = model;
    reply({modelName, modelModule, modelModuleVersion, state});
  } else if (request.kind === 'open-comm') {
    const comm = kernel.createComm(request.target);
    const state = stateWithBuffers(request.data || {}, request.buffers || []);
    watchComm(comm, {comm, modelName: state._model_name, modelModule: state._model_module,
                     modelModuleVersion: state._model_module_version, state});
    frame.comms.add(comm.commId);
    comm.open(request.data, {}, request.buffers || []);
    reply({commId: comm.commId});
  } else if (request.kind === 'comm-send') {
    const model = models.get(request.commId);
    if (!model) {
      problems.push(`a frame sent a message on comm ${request.commId}, which is closed`);
      return;
    }
    if (request.data && request.data.method === 'update') {
      Object.assign(model.state, stateWithBuffers(request.data, request.buffers || []));
    }
    model.comm.send(request.data, {}, request.buffers || []);
  } else if (request.kind === 'comm-close') {
    const model = models.get(request.commId);
    if (model) model.comm.close();
  }
}

/** A kernel output as nbformat has it, from its iopub message. */
function asOutput(message) {
  const content = message.content;
  const type = message.header.msg_type;
  if (type === 'stream') return {output_type: 'stream', name: content.name, text: content.text};
  if (type === 'error') {
    return {output_type: 'error', ename: content.ename, evalue: content.evalue,
            traceback: content.traceback};
  }
  return {output_type: type, data: content.data, metadata: content.metadata || {}};
}

const OUTPUT_TYPES = new Set(['stream', 'error', 'display_data', 'execute_result']);

/** Run code in the kernel; its outputs go to a new frame. Resolves with the reply's status. */
async function run(code, label) {
  const cell = document.createElement('div');
  cell.className = 'cell';
  cell.dataset.label = label;
  const iframe = document.createElement('iframe');
  iframe.src = `${FRAME_URL}?cell=${encodeURIComponent(label)}&host=${location.origin}`;
  iframe.dataset.cell = label;
  cell.append(iframe);
  document.querySelector('#cells').append(cell);
  frames.set(iframe.contentWindow, {iframe, ready: false, queue: [], comms: new Set()});
  const frameWindow = iframe.contentWindow;

  const errors = [];
  const future = kernel.requestExecute({code, stop_on_error: true});
  future.onIOPub = (message) => {
    const type = message.header.msg_type;
    if (OUTPUT_TYPES.has(type)) {
      const output = asOutput(message);
      if (type === 'error') errors.push(`${output.ename}: ${output.evalue}`);
      post(frameWindow, {kind: 'output', output});
    } else if (type === 'clear_output') {
      post(frameWindow, {kind: 'clear', wait: message.content.wait});
    }
  };
  const reply = await future.done;
  return {status: reply.content.status, errors};
}

/** Outputs of code the kernel ran for a comm message (a widget's callback): only errors matter. */
function watchCallbacks() {
  kernel.iopubMessage.connect((_, message) => {
    if (message.parent_header && message.parent_header.msg_type === 'comm_msg') {
      const type = message.header.msg_type;
      if (type === 'error' || (type === 'stream' && message.content.name === 'stderr')) {
        const output = asOutput(message);
        problems.push(`a widget callback wrote: ${output.text || output.ename + ': ' +
                                                    output.evalue}`);
      }
    }
  });
}

async function start() {
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: `${location.origin}/`,
    wsUrl: `ws://${location.host}/`,
    token: parameters.get('token'),
    appendToken: true, // the page has no login cookie: the websocket carries the token
  });
  const manager = new KernelManager({serverSettings});
  kernel = await manager.startNew({name: parameters.get('kernel')});
  kernel.registerCommTarget(WIDGET_TARGET, onCommOpen);
  watchCallbacks();
  await kernel.info;
  return kernel.id;
}

window.addEventListener('message', onFrameMessage);
window.colab = {start, run, problems};
