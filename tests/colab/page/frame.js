// One cell's output frame, as Colab makes it: on an origin of its own, it renders the outputs
// the host page sends, and for a widget view it loads Colab's widget manager (manager.min.js,
// one per frame) and gives it a WidgetEnvironment whose kernel is reached through the host.
const parameters = new URLSearchParams(location.search);
const HOST_ORIGIN = parameters.get('host');
const MANAGER_URL = new URL('manager.min.js', location.href).href;
const WIDGET_VIEW = 'application/vnd.jupyter.widget-view+json';

const area = document.querySelector('#output-area');
const pending = new Map(); // request id -> resolve
const comms = new Map(); // comm id -> FrameComm
let nextRequest = 0;
let manager;
let clearOnNextOutput = false;

function ask(kind, fields) {
  const id = nextRequest++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    parent.postMessage({kind, id, ...fields}, HOST_ORIGIN);
  });
}

/** The manager's IComm: every `messages` iterator sees every message from the start. */
class FrameComm {
  constructor(commId) {
    this.commId = commId;
    this.received = [];
    this.closed = false;
    this.waiting = [];
  }

  deliver(message) {
    this.received.push(message);
    this.waiting.splice(0).forEach((wake) => wake());
  }

  end() {
    this.closed = true;
    this.waiting.splice(0).forEach((wake) => wake());
  }

  get messages() {
    const comm = this;
    return (async function* () {
      let index = 0;
      for (;;) {
        if (index < comm.received.length) {
          yield comm.received[index++];
        } else if (comm.closed) {
          return;
        } else {
          await new Promise((wake) => comm.waiting.push(wake));
        }
      }
    })();
  }

  async send(data, options) {
    parent.postMessage({kind: 'comm-send', commId: this.commId, data,
                        buffers: (options && options.buffers) || []}, HOST_ORIGIN);
  }

  close() {
    parent.postMessage({kind: 'comm-close', commId: this.commId}, HOST_ORIGIN);
  }
}

function commFor(commId) {
  if (!comms.has(commId)) comms.set(commId, new FrameComm(commId));
  return comms.get(commId);
}

const environment = {
  async getModelState(modelId) {
    const state = await ask('model-state', {modelId});
    return state ? {...state, comm: commFor(modelId)} : undefined;
  },
  async openCommChannel(targetName, data, buffers) {
    const {commId} = await ask('open-comm', {target: targetName, data, buffers});
    return commFor(commId);
  },
  renderOutput(output, destination) {
    return renderOutput(output, destination);
  },
};

async function widgetManager() {
  if (!manager) {
    manager = import(MANAGER_URL).then((module) => module.createWidgetManager(environment));
  }
  return manager;
}

function text(value) {
  return Array.isArray(value) ? value.join('') : value;
}

function preformatted(content, className) {
  const pre = document.createElement('pre');
  pre.className = className;
  pre.textContent = content.replace(/\x1b\[[0-9;]*m/g, ''); // without ANSI colours
  return pre;
}

/** Render one nbformat output into destination, the richest of its MIME types first. */
async function renderOutput(output, destination) {
  if (output.output_type === 'stream') {
    destination.append(preformatted(text(output.text), output.name));
    return;
  }
  if (output.output_type === 'error') {
    destination.append(preformatted(output.traceback.join('\n'), 'error'));
    return;
  }
  const data = output.data || {};
  if (data[WIDGET_VIEW]) {
    const modelId = data[WIDGET_VIEW].model_id;
    const container = document.createElement('div');
    container.className = 'widget-output';
    container.dataset.modelId = modelId;
    destination.append(container);
    try {
      await (await widgetManager()).render(modelId, container);
    } catch (error) {
      console.error(`Error rendering widget ${modelId}:`, error);
      container.append(preformatted(`Error rendering widget: ${error}`, 'render-error'));
    }
  } else if (data['text/html']) {
    const div = document.createElement('div');
    div.innerHTML = text(data['text/html']);
    destination.append(div);
  } else if (data['image/png']) {
    const image = document.createElement('img');
    image.src = `data:image/png;base64,${text(data['image/png'])}`;
    destination.append(image);
  } else if (data['text/plain']) {
    destination.append(preformatted(text(data['text/plain']), 'text'));
  }
}

window.addEventListener('message', (event) => {
  if (event.source !== parent || event.origin !== HOST_ORIGIN) return;
  const message = event.data;
  if (message.kind === 'reply') {
    pending.get(message.id)(message.result);
    pending.delete(message.id);
  } else if (message.kind === 'output') {
    if (clearOnNextOutput) {
      area.replaceChildren();
      clearOnNextOutput = false;
    }
    const item = document.createElement('div');
    item.className = 'output';
    area.append(item);
    renderOutput(message.output, item);
  } else if (message.kind === 'clear') {
    if (message.wait) clearOnNextOutput = true;
    else area.replaceChildren();
  } else if (message.kind === 'comm-msg') {
    commFor(message.commId).deliver({data: message.data, buffers: message.buffers});
  } else if (message.kind === 'comm-close') {
    commFor(message.commId).end();
  }
});

new ResizeObserver(() => {
  parent.postMessage({kind: 'height', height: document.documentElement.scrollHeight},
                     HOST_ORIGIN);
}).observe(document.body);
parent.postMessage({kind: 'ready'}, HOST_ORIGIN);
