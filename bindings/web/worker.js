// The dedicated worker that owns one store (docs/EMBEDDING.md, bindings/web/README.md). OPFS sync access
// handles exist only in dedicated workers, so the store lives here, not in
// the page. Messages from index.js run one at a time, in order:
//   {id, op: 'open', name, userID, durability} -> {id, failure: line|null}
//   {id, op: 'call', line}                      -> {id, lines: [line...]}
//   {id, op: 'close'}                           -> {id, closed: bool}
//   {id, op: 'rollbackJournalForTests', name}   -> {id, mode} or {id, failure}
//     (tests only: rewrites a closed store as builds before 2026-12-07 left
//     it, with a rollback journal; the page then ends this worker)
import init, { WebStore, installVfs, methods, rewriteWithRollbackJournalForTests } from './receiptdb_web.js';

const CLOSED_LINE = '{"error":{"code":-32000,"data":{"name":"STORE_CLOSED"},"message":"the store is closed"},"id":null,"jsonrpc":"2.0"}';

let store = null;
// After a trap (an abort inside the module) its memory is unknown: no more calls.
let broken = false;

function internalLine(what, e) {
  const message = `internal error: ${what} failed: ${e && e.message ? e.message : e}`;
  return JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: message.slice(0, 200), data: { name: 'INTERNAL' } } });
}

/** One OPFS pool folder per store name: the pool holds its whole folder while open. */
function poolDirectory(name) {
  return `receiptdb/store-${encodeURIComponent(name)}`;
}

async function open({ name, userID, durability }) {
  await init({ module_or_path: new URL('./receiptdb_web_bg.wasm', import.meta.url) });
  const failure = await installVfs(poolDirectory(name));
  if (failure) return failure;
  store = new WebStore();
  return store.open(name, userID, durability ?? undefined) ?? null;
}

async function handle(msg) {
  switch (msg.op) {
    case 'open':
      try { return { failure: await open(msg) }; } catch (e) { broken = true; return { failure: internalLine('open', e) }; }
    case 'call':
      if (store === null || broken) return { lines: [CLOSED_LINE] };
      try { return { lines: store.call(msg.line) }; } catch (e) { broken = true; return { lines: [internalLine('call', e)] }; }
    case 'close': {
      const was = store !== null && !broken;
      try { if (store !== null) store.close(); } catch { /* the page ends this worker next */ }
      store = null;
      return { closed: was };
    }
    case 'rollbackJournalForTests': {
      await init({ module_or_path: new URL('./receiptdb_web_bg.wasm', import.meta.url) });
      const failure = await installVfs(poolDirectory(msg.name));
      if (failure) return { failure };
      try { return { mode: rewriteWithRollbackJournalForTests(msg.name) }; } catch (e) { return { failure: String(e) }; }
    }
    case 'methods':
      await init({ module_or_path: new URL('./receiptdb_web_bg.wasm', import.meta.url) });
      return { methods: methods() };
    default:
      return { lines: [internalLine(`op ${msg.op}`, 'unknown')] };
  }
}

let chain = Promise.resolve();
self.onmessage = (e) => {
  const msg = e.data;
  chain = chain.then(async () => self.postMessage({ id: msg.id, ...(await handle(msg)) }));
};
