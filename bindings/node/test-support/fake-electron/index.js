'use strict';
// A stand-in for `electron`, enough to run docs/EMBEDDING.md's Electron sample
// (main and preload in one process): app paths and lifecycle, ipcMain /
// ipcRenderer over an in-memory channel, contextBridge, BrowserWindow with one
// window that records what it is sent. When the process would exit, it plays
// the renderer script in $FAKE_ELECTRON_SCRIPT (a JSON list of
// [apiMethod, ...args] calls on what the preload exposed), prints one line
// `FAKE_ELECTRON {"results": [...], "sent": [...]}` and quits the app.

const handlers = new Map();
const rendererListeners = new Map();
const quitListeners = [];
const exposed = {};
const sent = [];

const app = {
  getPath: (name) => {
    if (name !== 'userData') throw new Error(`fake electron: getPath(${name})`);
    return process.env.FAKE_ELECTRON_USER_DATA;
  },
  on: (event, fn) => { if (event === 'will-quit') quitListeners.push(fn); return app; },
  whenReady: () => Promise.resolve(),
};

const ipcMain = {
  handle: (channel, fn) => { handlers.set(channel, fn); },
};

const window = {
  webContents: {
    send: (channel, payload) => {
      sent.push([channel, payload]);
      for (const fn of rendererListeners.get(channel) || []) fn({}, payload);
    },
  },
};
const BrowserWindow = { getAllWindows: () => [window] };

const ipcRenderer = {
  // Structured clone: only plain data crosses, and the handler's throw rejects.
  invoke: async (channel, ...args) => {
    const fn = handlers.get(channel);
    if (!fn) throw new Error(`No handler registered for '${channel}'`);
    return structuredClone(await fn({}, ...structuredClone(args)));
  },
  on: (channel, fn) => {
    if (!rendererListeners.has(channel)) rendererListeners.set(channel, []);
    rendererListeners.get(channel).push(fn);
  },
};

const contextBridge = {
  exposeInMainWorld: (key, api) => { exposed[key] = api; },
};

let played = false;
process.on('beforeExit', async () => {
  if (played) return;
  played = true;
  const script = JSON.parse(process.env.FAKE_ELECTRON_SCRIPT || '[]');
  const results = [];
  for (const [key, method, ...args] of script) {
    try {
      results.push({ ok: await exposed[key][method](...args) });
    } catch (e) {
      results.push({ error: e.message });
    }
  }
  for (const fn of quitListeners) fn();
  console.log(`FAKE_ELECTRON ${JSON.stringify({ results, sent })}`);
});

module.exports = { app, ipcMain, ipcRenderer, contextBridge, BrowserWindow };
