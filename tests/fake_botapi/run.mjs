// SPDX-License-Identifier: MIT
// A scripted Bot API server for the archive bot's tests: the behaviour of
// Telegram's Bot API that telegram-test-api lacks (getUpdates offsets and
// long polling, getFile and file downloads, copyMessage, 429 answers with
// retry_after), following the Bot API documentation. Not a mock of our
// code: it knows nothing of tgharvest.
//
//   node run.mjs TOKEN LOGFILE PORT
//
// Bot API:   POST /bot<TOKEN>/<method> (JSON or form body)
//            GET  /file/bot<TOKEN>/<file_path>
// Control:   POST /control/update   an Update without update_id (one is given)
//            POST /control/file     {file_id, file_unique_id, size, seed, path?}
//            POST /control/flood    {method, count, retry_after}
//            GET  /control/sent     what the bot sent (sendMessage, copyMessage)
//            GET  /control/state    {confirmed, pending, polls}
// Every Bot API request is one JSON line in LOGFILE: {at, method, params}.
import { createServer } from 'node:http';
import { appendFileSync } from 'node:fs';

const [token, logfile, port] = process.argv.slice(2);
const BOT = { id: 777000111, is_bot: true, first_name: 'Harbor Archive', username: 'harbor_archive_bot' };
const DOWNLOAD_LIMIT = 20 * 1024 * 1024; // getFile refuses larger files, as the Bot API does

let nextUpdateId = 5000;
let confirmed = 0; // every update below this was confirmed by an offset
let updates = [];
let waiters = [];
let floods = {};
let files = {};
let sent = [];
let polls = 0;
let nextMessageId = 90000;

function log(method, params) {
  appendFileSync(logfile, JSON.stringify({ at: Date.now(), method, params }) + '\n');
}

function reply(res, status, body) {
  const s = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(s) });
  res.end(s);
}

function error(res, code, description, parameters) {
  const body = { ok: false, error_code: code, description };
  if (parameters) body.parameters = parameters;
  reply(res, code, body);
}

function body(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text === '') return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch {
        resolve(Object.fromEntries(new URLSearchParams(text)));
      }
    });
  });
}

// Deterministic bytes of a file: seed and size say what they are.
function fileBytes(f) {
  const b = Buffer.alloc(f.size);
  let x = f.seed >>> 0 || 1;
  for (let i = 0; i < f.size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function pending(offset, limit) {
  return updates.filter((u) => u.update_id >= offset).slice(0, limit);
}

function getUpdates(p, res) {
  polls++;
  const offset = Number(p.offset || 0);
  const limit = Math.min(Number(p.limit || 100), 100);
  const timeout = Number(p.timeout || 0);
  // An offset confirms every update below it: they are forgotten.
  if (offset > confirmed) {
    confirmed = offset;
    updates = updates.filter((u) => u.update_id >= confirmed);
  }
  const now = pending(offset, limit);
  if (now.length > 0 || timeout <= 0) return reply(res, 200, { ok: true, result: now });
  const w = { offset, limit, res, timer: null };
  w.timer = setTimeout(() => {
    waiters = waiters.filter((x) => x !== w);
    reply(res, 200, { ok: true, result: pending(offset, limit) });
  }, timeout * 1000);
  waiters.push(w);
}

function wake() {
  for (const w of waiters.splice(0)) {
    clearTimeout(w.timer);
    reply(w.res, 200, { ok: true, result: pending(w.offset, w.limit) });
  }
}

const methods = {
  getMe: (p, res) => reply(res, 200, { ok: true, result: BOT }),
  getUpdates,
  sendMessage: (p, res) => {
    const m = { message_id: nextMessageId++, from: BOT, chat: { id: Number(p.chat_id), type: 'private' },
      date: Math.floor(Date.now() / 1000), text: p.text };
    sent.push({ method: 'sendMessage', ...p });
    reply(res, 200, { ok: true, result: m });
  },
  copyMessage: (p, res) => {
    sent.push({ method: 'copyMessage', ...p });
    reply(res, 200, { ok: true, result: { message_id: nextMessageId++ } });
  },
  getFile: (p, res) => {
    const f = files[p.file_id];
    if (!f) return error(res, 400, 'Bad Request: invalid file_id');
    if (f.size > DOWNLOAD_LIMIT) return error(res, 400, 'Bad Request: file is too big');
    reply(res, 200, { ok: true, result: { file_id: p.file_id, file_unique_id: f.file_unique_id,
      file_size: f.size, file_path: f.path } });
  },
};

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  if (path.startsWith('/control/')) {
    const p = req.method === 'POST' ? await body(req) : {};
    switch (path) {
      case '/control/update':
        p.update_id = nextUpdateId++;
        updates.push(p);
        wake();
        return reply(res, 200, { update_id: p.update_id });
      case '/control/file':
        files[p.file_id] = { file_unique_id: p.file_unique_id, size: Number(p.size), seed: Number(p.seed || 1),
          path: p.path || `documents/file_${Object.keys(files).length}.bin` };
        return reply(res, 200, { ok: true });
      case '/control/flood':
        floods[p.method] = { count: Number(p.count || 1), retry_after: Number(p.retry_after || 1) };
        return reply(res, 200, { ok: true });
      case '/control/sent':
        return reply(res, 200, sent);
      case '/control/state':
        return reply(res, 200, { confirmed, pending: updates.length, polls });
      default:
        return reply(res, 404, { message: 'no such control' });
    }
  }
  const fm = path.match(/^\/file\/bot([^/]+)\/(.+)$/);
  if (fm) {
    if (fm[1] !== token) return reply(res, 401, { ok: false, error_code: 401, description: 'Unauthorized' });
    const f = Object.values(files).find((x) => x.path === fm[2]);
    log('download', { file_path: fm[2] });
    if (!f) return reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
    const b = fileBytes(f);
    res.writeHead(200, { 'Content-Length': b.length });
    return res.end(b);
  }
  const m = path.match(/^\/bot([^/]+)\/([A-Za-z]+)$/);
  if (!m) return reply(res, 404, { ok: false, error_code: 404, description: 'Not Found' });
  if (m[1] !== token) return error(res, 401, 'Unauthorized');
  const p = await body(req);
  log(m[2], p);
  const fl = floods[m[2]];
  if (fl && fl.count > 0) {
    fl.count--;
    return error(res, 429, `Too Many Requests: retry after ${fl.retry_after}`, { retry_after: fl.retry_after });
  }
  const fn = methods[m[2]];
  if (!fn) return error(res, 404, 'Not Found: method not found');
  fn(p, res);
});

server.listen(Number(port), '127.0.0.1');
