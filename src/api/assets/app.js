// SPDX-License-Identifier: MIT
// The tgharvest dashboard: one page over the HTTP API (docs/api.md), no
// framework, no build step. Everything the API returns is text: it reaches
// the page through textContent and text nodes only, never as markup.
'use strict';

(() => {
    const KEY_ITEM = 'tgharvest.apiKey';
    const SVG_NS = 'http://www.w3.org/2000/svg';
    let apiKey = '';
    try { apiKey = sessionStorage.getItem(KEY_ITEM) || ''; } catch { /* storage disabled */ }

    // ---- DOM helpers ----
    function el(tag, props, ...kids) {
        const e = document.createElement(tag);
        for (const [k, v] of Object.entries(props || {})) {
            if (v == null || v === false) continue;
            if (k === 'class') e.className = v;
            else if (k === 'text') e.textContent = String(v);
            else if (k === 'on') for (const [t, fn] of Object.entries(v)) e.addEventListener(t, fn);
            else if (k === 'data') Object.assign(e.dataset, v);
            else if (k === 'value') e.value = v;
            else e.setAttribute(k, v === true ? '' : String(v));
        }
        for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) e.append(kid instanceof Node ? kid : String(kid));
        return e;
    }
    // replaceChildren with el()'s rules: arrays flattened, null and false left out (not "null").
    const put = (node, ...kids) => node.replaceChildren(...kids.flat(Infinity).filter(k => k != null && k !== false));
    function svg(tag, attrs, ...kids) {
        const e = document.createElementNS(SVG_NS, tag);
        for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
        for (const kid of kids) e.append(kid);
        return e;
    }
    const table = (heads, rows, cls) => el('table', { class: cls || 'grid' },
        el('thead', null, el('tr', null, heads.map(h => el('th', { text: h })))), el('tbody', null, rows));
    const td = (v, cls) => el('td', { class: cls }, v instanceof Node ? v : (v == null || v === '' ? '—' : String(v)));

    // ---- formatting ----
    const pad = n => String(n).padStart(2, '0');
    function fmtTime(s) {
        if (s == null || s === 0) return '—';
        const d = new Date(s * 1000);
        return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    }
    const timeEl = s => (s == null || s === 0) ? '—'
        : el('time', { datetime: new Date(s * 1000).toISOString(), title: new Date(s * 1000).toISOString(), text: fmtTime(s) });
    function fmtDur(s) {
        if (s == null) return '—';
        s = Math.max(0, Math.round(s));
        if (s < 60) return `${s} s`;
        if (s < 3600) return `${Math.floor(s / 60)} min`;
        const [big, unit, small, sunit] = s < 86400 ? [Math.floor(s / 3600), 'h', Math.floor(s % 3600 / 60), 'min']
            : [Math.floor(s / 86400), 'd', Math.floor(s % 86400 / 3600), 'h'];
        return small ? `${big} ${unit} ${small} ${sunit}` : `${big} ${unit}`;
    }
    const fmtNum = n => n == null ? '—' : Number(n).toLocaleString('en-US');
    function fmtBytes(b) {
        if (b == null) return '—';
        const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
        let i = 0;
        while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
        return `${i ? b.toFixed(1) : b} ${u[i]}`;
    }
    const badge = (text, kind) => el('span', { class: `badge ${kind || ''}`, text });
    function msgText(ev) {
        if (!ev) return '';
        const parts = [];
        if (ev.media) parts.push(`[${ev.media.kind}${ev.media.file_name ? ': ' + ev.media.file_name : ''}]`);
        if (ev.poll) parts.push(`[poll] ${ev.poll.question}`);
        if (ev.action) parts.push(`[${String(ev.action.type).replace(/_/g, ' ')}]`);
        if (ev.location) parts.push(`[location${ev.location.venue_title ? ': ' + ev.location.venue_title : ''}]`);
        if (ev.contact) parts.push(`[contact${ev.contact.first_name ? ': ' + ev.contact.first_name : ''}]`);
        if (ev.text) parts.push(ev.text);
        return parts.join(' ');
    }
    const senderName = s => s ? s.name || [s.type, s.id].filter(Boolean).join(' ') : '';
    const chatName = c => (c && (c.title || (c.username && '@' + c.username))) || '(no title)';
    const msgLink = (chat, id, text) => el('a', { href: `#/message/${chat}/${id}`, text: text || `#${id}` });

    // ---- the API ----
    class ApiError extends Error {
        constructor(status, code, message) { super(message); this.status = status; this.code = code; }
    }
    async function api(path, { method = 'GET', body, okStatuses = [] } = {}) {
        const headers = { Accept: 'application/json' };
        if (apiKey) headers['X-API-Key'] = apiKey;
        if (body !== undefined) headers['Content-Type'] = 'application/json';
        let res;
        try {
            res = await fetch(path, { method, headers, cache: 'no-store', body: body === undefined ? undefined : JSON.stringify(body) });
        } catch (e) {
            throw new ApiError(0, 'network', `cannot reach the server (${e.message})`);
        }
        let data = null;
        try { data = await res.json(); } catch { /* not JSON */ }
        if (res.ok || okStatuses.includes(res.status)) return data;
        const err = (data && data.error) || {};
        if (res.status === 401) askKey(`The server refused the API key: ${err.message || 'unauthorized'}.`);
        throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || `HTTP ${res.status}`);
    }
    function errorText(e) {
        if (!(e instanceof ApiError)) return String((e && e.message) || e);
        if (e.status === 0) return e.message;
        if (e.status === 403) return `Not allowed with this API key (read-only): ${e.message}`;
        return `${e.message} (HTTP ${e.status} ${e.code})`;
    }
    const errorBox = e => el('p', { class: 'error', role: 'alert', text: errorText(e) });

    // ---- notices and the key form ----
    const notice = document.getElementById('notice');
    let noticeTimer = 0;
    function notify(text, kind) {
        clearTimeout(noticeTimer);
        notice.className = `notice ${kind || ''}`;
        put(notice, el('span', { text }), el('button', { type: 'button', class: 'link', text: 'dismiss', on: { click: hideNotice } }));
        notice.hidden = false;
        if (kind === 'ok') noticeTimer = setTimeout(hideNotice, 10000);
    }
    function hideNotice() { notice.hidden = true; }

    const keyForm = document.getElementById('key-form');
    const keyInput = document.getElementById('key-input');
    function askKey(msg) {
        document.getElementById('key-msg').textContent = msg || '';
        keyForm.hidden = false;
        keyInput.focus();
    }
    keyForm.addEventListener('submit', ev => {
        ev.preventDefault();
        const v = keyInput.value.trim();
        if (!v) return;
        setKey(v);
        keyInput.value = '';
        keyForm.hidden = true;
        route();
    });
    document.getElementById('change-key').addEventListener('click', () =>
        keyForm.hidden ? askKey('The key is kept in this tab only (session storage).') : (keyForm.hidden = true));
    function setKey(k) {
        apiKey = k;
        try { sessionStorage.setItem(KEY_ITEM, k); } catch { /* kept in memory only */ }
    }
    // The key arrives in the fragment (#key=...): never sent to the server in a URL, removed from the address bar.
    function takeKeyFromHash() {
        const h = location.hash.replace(/^#/, '');
        const m = /(?:^|[&?])key=([^&]*)/.exec(h);
        if (!m) return;
        try { setKey(decodeURIComponent(m[1])); } catch { setKey(m[1]); }
        let rest = h.replace(m[0], '').replace(/^[&?]/, '');
        if (!rest.startsWith('/')) rest = '/overview';
        history.replaceState(null, '', `${location.pathname}${location.search}#${rest}`);
    }

    // ---- routing ----
    let gen = 0;
    let leaving = [];
    const views = {};
    function route() {
        forgetBlobs();
        const mine = ++gen;
        for (const f of leaving.splice(0)) f();
        hideNotice();
        const raw = location.hash.replace(/^#\/?/, '');
        const qi = raw.indexOf('?');
        const path = (qi < 0 ? raw : raw.slice(0, qi)).split('/').filter(Boolean);
        const query = new URLSearchParams(qi < 0 ? '' : raw.slice(qi + 1));
        const name = Object.hasOwn(views, path[0] || '') ? path[0] : 'overview';
        const group = { chat: 'chats', message: '' }[name] ?? name;
        for (const a of document.querySelectorAll('#nav a')) {
            a.classList.toggle('active', a.dataset.view === group);
            if (a.dataset.view === group) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
        }
        document.title = `tgharvest · ${name}`;
        const root = document.getElementById('app');
        root.dataset.view = name;
        put(root, el('p', { class: 'muted', text: 'Loading…' }));
        if (!apiKey) {
            put(root, el('p', { class: 'muted', text: 'Enter an API key above to use the dashboard.' }));
            askKey('No API key in this tab yet: open the link `run` or `serve` printed, or paste a key.');
            return;
        }
        const ctx = { root, alive: () => mine === gen, onLeave: f => leaving.push(f) };
        Promise.resolve().then(() => views[name](ctx, path.slice(1).map(decodeURIComponent), query)).catch(e => {
            if (ctx.alive()) put(root, el('h1', { text: name }), errorBox(e));
        });
    }

    // ---- overview ----
    function card(title, id, main, ...rest) {
        return el('section', { class: 'card', id }, el('h2', { text: title }), el('div', { class: 'big', text: main }), rest);
    }
    const kv = pairs => el('dl', { class: 'kv' }, pairs.map(([k, v]) => [el('dt', { text: k }), el('dd', null, v instanceof Node ? v : (v == null ? '—' : String(v)))]));

    views.overview = async ctx => {
        async function load() {
            const [ready, st, act] = await Promise.all([
                api('/readyz', { okStatuses: [503] }).catch(e => ({ status: 'unreachable', error: errorText(e) })),
                api('/status'),
                api('/api/v1/stats/activity').catch(e => ({ error: e })),
            ]);
            if (!ctx.alive()) return;
            const checks = Object.entries(ready.checks || {}).map(([k, c]) =>
                el('li', null, badge(c.ok ? 'ok' : 'down', c.ok ? 'good' : 'bad'), ` ${k}${c.error ? ': ' + c.error : ''}`));
            const s = st.store || {}, q = st.queue || {}, sm = st.stream || {};
            const cards = el('div', { class: 'cards' },
                card('Health', 'ov-health', ready.status, el('ul', { class: 'plain' }, checks), ready.error ? el('p', { class: 'error', text: ready.error }) : null),
                card('Version', 'ov-version', st.version, kv([['mode', st.mode], ['uptime', fmtDur(st.uptime_s)], ['started', timeEl(st.started_at)]])),
                card('Queue', 'ov-queue', q.depth == null ? '—' : fmtNum(q.depth), kv([['queue', q.url], ['reachable', q.ok ? 'yes' : 'no'], ['cache', st.cache && st.cache.configured ? 'redis' : 'none']])),
                card('Live stream', 'ov-stream', sm.connected ? 'connected' : 'disconnected',
                    kv([['source', sm.source], ['clients', sm.clients], ['buffered', fmtNum(sm.buffered)], ['dropped', fmtNum(sm.dropped)]])),
                card('Dead letters', 'ov-dead', fmtNum(st.dead_letters && st.dead_letters.open), el('a', { href: '#/dead-letters', text: 'open dead letters' })),
                card('Store', 'ov-store', `${fmtNum(s.messages)} messages`,
                    kv([['chats', fmtNum(s.chats)], ['deleted', fmtNum(s.deleted)], ['versions', fmtNum(s.versions)], ['runs', fmtNum(s.runs)], ['size', fmtBytes(s.size_bytes)], ['store', s.url]])));
            cards.querySelector('#ov-health .big').classList.add(ready.status === 'ready' ? 'good-text' : 'bad-text');
            const chart = el('section', { class: 'panel' }, el('h2', { text: 'Messages per hour (last 48 h)' }),
                act.error ? errorBox(act.error) : activityChart(act));
            const accounts = el('section', { class: 'panel' }, el('h2', { text: 'Accounts' }),
                !Array.isArray(st.accounts) ? el('p', { class: 'muted', text: 'No account information (this process does not collect).' })
                    : st.accounts.length === 0 ? el('p', { class: 'muted', text: 'No accounts logged in.' })
                        : table(['name', 'display', 'username', 'logged in', 'in use', 'bot'], st.accounts.map(a => el('tr', null,
                            td(a.name), td(a.display), td(a.username ? '@' + a.username : ''), td(a.logged_in ? 'yes' : 'no'),
                            td(a.in_use ? 'yes' : 'no'), td(a.is_bot ? 'yes' : 'no')))));
            const runs = Object.entries(st.last_runs || {});
            const lastRuns = el('section', { class: 'panel' }, el('h2', { text: 'Last runs' }),
                runs.length === 0 ? el('p', { class: 'muted', text: 'No runs yet.' })
                    : table(['kind', 'status', 'chat', 'origin', 'started', 'finished', 'seen', 'inserted', 'errors', 'error'],
                        runs.map(([kind, r]) => el('tr', null, td(kind), td(badge(r.status, r.status === 'ok' || r.status === 'done' ? 'good' : r.status === 'running' ? '' : 'warn')),
                            td(r.chat_id || ''), td(r.origin), td(timeEl(r.started_at)), td(timeEl(r.finished_at)),
                            td(fmtNum(r.messages_seen), 'num'), td(fmtNum(r.inserted), 'num'), td(fmtNum(r.errors), 'num'), td(r.error, 'wrap')))));
            put(ctx.root, el('h1', { text: 'Overview' }), cards, chart, lastRuns, accounts);
        }
        await load();
        const timer = setInterval(() => load().catch(e => ctx.alive() && notify(errorText(e), 'error')), 15000);
        ctx.onLeave(() => clearInterval(timer));
    };

    function activityChart(a) {
        const b = a.buckets || [];
        const W = 1000, H = 190, L = 46, R = 6, T = 10, B = 26, n = Math.max(1, b.length);
        const max = Math.max(1, ...b.map(x => x.messages));
        const bw = (W - L - R) / n, ph = H - T - B;
        const total = b.reduce((t, x) => t + x.messages, 0);
        const g = svg('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': `${total} messages in ${b.length} buckets` });
        for (const f of [0, 0.5, 1]) {
            const y = T + ph * (1 - f);
            g.append(svg('line', { x1: L, x2: W - R, y1: y, y2: y, class: 'axis' }),
                svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', class: 'label' }, String(Math.round(max * f))));
        }
        const daily = (a.bucket_s || 3600) >= 86400, every = Math.ceil(n / 12);
        b.forEach((x, i) => {
            const h = ph * x.messages / max, d = new Date(x.t * 1000);
            g.append(svg('rect', { x: L + i * bw + 0.5, y: T + ph - h, width: Math.max(1, bw - 1), height: h, class: 'bar' },
                svg('title', null, `${fmtTime(x.t)}: ${x.messages} messages`)));
            if (i % every === 0) {
                const label = daily || d.getHours() === 0 ? `${pad(d.getMonth() + 1)}-${pad(d.getDate())}` : `${pad(d.getHours())}:00`;
                g.append(svg('text', { x: L + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'label' }, label));
            }
        });
        return el('figure', { class: 'chart-box' }, g, el('figcaption', { class: 'muted', text: `${fmtNum(total)} messages from ${fmtTime(a.since)} to ${fmtTime(a.until)}` }));
    }

    // ---- chats ----
    views.chats = async ctx => {
        const holder = el('div');
        const spec = el('input', { id: 'add-spec', required: true, placeholder: '@name, t.me/…, -100…, or an invite link', size: 40 });
        const form = el('form', { class: 'inline', id: 'add-chat' }, el('label', { for: 'add-spec', text: 'Track a chat' }), spec, el('button', { type: 'submit', text: 'Add' }));
        form.addEventListener('submit', async ev => {
            ev.preventDefault();
            try {
                const r = await api('/api/v1/chats', { method: 'POST', body: { spec: spec.value.trim() } });
                notify(`Tracking ${r.tracked.spec} (status ${r.tracked.status}): the collector resolves it on its next rescan.`, 'ok');
                spec.value = '';
                await load();
            } catch (e) { notify(errorText(e), 'error'); }
        });
        async function action(c, act, btn) {
            btn.disabled = true;
            try {
                await api(`/api/v1/chats/${c.chat_id}/${act}`, { method: 'POST' });
                notify(act === 'backfill' ? `Backfill of ${chatName(c)} requested: it runs on the collector's next rescan.`
                    : `${chatName(c)} ${act}d.`, 'ok');
                await load();
            } catch (e) { notify(errorText(e), 'error'); btn.disabled = false; }
        }
        async function load() {
            const d = await api('/api/v1/chats');
            if (!ctx.alive()) return;
            const rows = d.chats.map(c => {
                const t = c.tracked;
                const acts = t ? [el('button', { type: 'button', class: 'small', text: t.enabled ? 'Disable' : 'Enable', on: { click: e => action(c, t.enabled ? 'disable' : 'enable', e.target) } }),
                    el('button', { type: 'button', class: 'small', text: 'Backfill', on: { click: e => action(c, 'backfill', e.target) } })]
                    : el('span', { class: 'muted', text: 'not tracked' });
                const status = t ? el('span', null, badge(t.status, t.status === 'error' ? 'bad' : t.status === 'active' || t.status === 'ok' ? 'good' : ''),
                    t.error ? el('span', { class: 'error-text', text: ` ${t.error}` }) : null) : '';
                const lag = el('td', { class: 'num', text: fmtDur(c.lag_s) });
                if (c.lag_s > 86400) lag.classList.add('warn-text');
                return el('tr', { data: { chat: String(c.chat_id) } },
                    td(el('a', { href: `#/chat/${c.chat_id}`, text: chatName(c) })), td(c.chat_id, 'mono'), td(c.type),
                    td(fmtNum(c.messages), 'num'), td(fmtNum(c.deleted), 'num'), td(timeEl(c.last_message_at)), lag,
                    td(status, 'wrap'), td(t ? (t.enabled ? 'yes' : 'no') : ''), el('td', { class: 'actions' }, acts));
            });
            put(holder, rows.length ? table(['title', 'id', 'type', 'messages', 'deleted', 'last message', 'lag', 'tracked', 'enabled', ''], rows)
                : el('p', { class: 'muted', text: 'No chats yet: track one above.' }));
        }
        put(ctx.root, el('h1', { text: 'Chats' }), form, holder);
        await load();
    };

    // The runs of message ids the archive lacks, as the last gap check classified them.
    const GAP_KIND = { deleted: 'warn', missed: 'good', inaccessible: 'bad', unknown: '' };
    function gapsSection(g) {
        const box = el('section', { id: 'gaps' }, el('h2', { text: 'Completeness' }));
        if (g instanceof Error) { box.append(errorBox(g)); return box; }
        const ids = g.ids || {};
        box.append(el('p', { class: 'gap-summary', text: g.gaps.length
            ? `Missing ids: ${fmtNum(ids.deleted)} deleted on Telegram, ${fmtNum(ids.missed)} missed and fetched since, ${fmtNum(ids.inaccessible)} inaccessible, ${fmtNum(ids.unknown)} not checked yet · last check ${fmtTime(g.checked_at)}`
            : 'No missing ids recorded: the last gap check found none, or none has run yet.' }));
        if (g.gaps.length)
            box.append(table(['ids', 'count', 'class', 'where', 'checked', 'detail'], g.gaps.map(x => el('tr', { data: { class: x.class } },
                td(x.first_id === x.last_id ? String(x.first_id) : `${x.first_id}–${x.last_id}`, 'num'), td(fmtNum(x.ids), 'num'),
                td(badge(x.class, GAP_KIND[x.class])), td(x.position), td(timeEl(x.checked_at)), td(x.detail, 'text'))), 'grid gaps'));
        return box;
    }

    views.chat = async (ctx, [id]) => {
        if (!/^-?\d+$/.test(id || '')) throw new Error('not a chat id');
        const [chats, page, gaps] = await Promise.all([api('/api/v1/chats'), api(`/api/v1/chats/${id}/messages?order=desc&limit=50`),
            api(`/api/v1/chats/${id}/gaps`).catch(e => e)]);
        if (!ctx.alive()) return;
        const c = chats.chats.find(x => String(x.chat_id) === id) || { chat_id: id };
        const rows = page.messages.map(m => el('tr', { data: { id: String(m.message_id) } },
            td(msgLink(id, m.message_id), 'num'), td(timeEl(m.date)), td(m.edit_date ? timeEl(m.edit_date) : ''),
            td(senderName(m.sender)), td(msgText(m), 'text')));
        put(ctx.root, el('p', { class: 'crumbs' }, el('a', { href: '#/chats', text: 'Chats' }), ' / '),
            el('h1', { text: chatName(c) }),
            el('p', { class: 'muted', text: `${c.chat_id} · ${c.type || 'unknown type'} · ${fmtNum(c.messages)} messages · ${fmtNum(c.deleted)} deleted` }),
            el('h2', { text: 'Latest messages' }),
            rows.length ? table(['id', 'date', 'edited', 'sender', 'text'], rows, 'grid messages') : el('p', { class: 'muted', text: 'No messages.' }),
            gapsSection(gaps));
    };

    // ---- the media of a message ----
    const INLINE_MAX = 50 * 1024 * 1024; // larger files are fetched only when asked for
    const blobUrls = [];
    function forgetBlobs() { while (blobUrls.length) URL.revokeObjectURL(blobUrls.pop()); }
    async function mediaBlob(url) {
        const headers = {};
        if (apiKey) headers['X-API-Key'] = apiKey;
        const res = await fetch(url, { headers, cache: 'no-store' });
        if (!res.ok) throw new ApiError(res.status, `http_${res.status}`, `media: HTTP ${res.status}`);
        const u = URL.createObjectURL(await res.blob());
        blobUrls.push(u);
        return u;
    }
    function mediaPlayer(f, u) {
        const type = f.content_type || '';
        if (type.startsWith('image/')) return el('img', { class: 'media-img', src: u, alt: f.file_name || f.kind });
        if (type.startsWith('video/')) return el('video', { class: 'media-player', src: u, controls: '' });
        if (type.startsWith('audio/')) return el('audio', { class: 'media-player', src: u, controls: '' });
        return el('a', { href: u, download: f.file_name || `${f.kind}-${f.id}`, text: `download ${f.file_name || f.kind}` });
    }
    function mediaItem(f) {
        const stateKind = f.state === 'stored' ? 'ok' : f.state === 'failed' ? 'bad' : '';
        const head = el('div', { class: 'meta' }, badge(f.state, stateKind), ` ${f.kind}${f.media_key === 'thumb' ? ' (thumbnail)' : ''}`,
            f.file_name ? ` · ${f.file_name}` : '', f.size ? ` · ${fmtBytes(f.size)}` : '',
            f.state === 'downloading' && f.size ? ` · ${Math.floor(100 * f.downloaded / f.size)}%` : '',
            f.attempts ? ` · ${f.attempts} attempt${f.attempts > 1 ? 's' : ''}` : '');
        const li = el('li', { class: 'media-item', 'data-state': f.state }, head,
            f.error && f.state !== 'stored' ? el('div', { class: 'muted', text: f.error }) : null);
        if (f.state !== 'stored' || !f.url) return li;
        const slot = el('div', { class: 'media-slot' });
        li.append(slot);
        const load = async () => {
            put(slot, el('span', { class: 'muted', text: 'loading…' }));
            try { put(slot, mediaPlayer(f, await mediaBlob(f.url))); } catch (e) { put(slot, errorBox(e)); }
        };
        if (f.size && f.size > INLINE_MAX)
            put(slot, el('button', { type: 'button', text: `Load ${fmtBytes(f.size)}`, on: { click: load } }));
        else
            load();
        return li;
    }
    async function mediaSection(chat, id) {
        const box = el('section', { id: 'media' }, el('h2', { text: 'Media' }));
        try {
            const d = await api(`/api/v1/chats/${chat}/messages/${id}/media`);
            const files = (d && d.files) || [];
            box.append(files.length ? el('ul', { class: 'media' }, files.map(mediaItem))
                : el('p', { class: 'muted', text: 'No media kept for this message.' }));
        } catch (e) {
            box.append(errorBox(e));
        }
        return box;
    }

    // ---- one message and its history ----
    views.message = async (ctx, [chat, id]) => {
        if (!/^-?\d+$/.test(chat || '') || !/^\d+$/.test(id || '')) throw new Error('not a message address');
        const d = await api(`/api/v1/chats/${chat}/messages/${id}`);
        if (!ctx.alive()) return;
        const ev = d.event || {};
        const versions = d.versions || [];
        const media = ev.media ? await mediaSection(chat, id) : null;
        if (!ctx.alive()) return;
        const vlist = el('ol', { class: 'versions', id: 'versions' }, versions.map((v, i) => el('li', null,
            el('div', { class: 'meta' }, `Version ${i + 1} · `, v.edit_date ? ['edited ', timeEl(v.edit_date)] : ['original, ', timeEl(v.date)]),
            el('div', { class: 'msg-text', text: msgText(v) || '(no text)' }))));
        put(ctx.root,
            el('p', { class: 'crumbs' }, el('a', { href: '#/chats', text: 'Chats' }), ' / ', el('a', { href: `#/chat/${chat}`, text: chatName(ev.chat) }), ' / '),
            el('h1', { text: `Message ${id}` }),
            d.deleted_at ? el('p', { class: 'error', text: `Deleted at ${fmtTime(d.deleted_at)}` }) : null,
            kv([['chat', `${chatName(ev.chat)} (${chat})`], ['date', timeEl(d.date)], ['edited', d.edit_date ? timeEl(d.edit_date) : 'never'],
                ['deleted', d.deleted_at ? timeEl(d.deleted_at) : 'no'], ['sender', senderName(ev.sender)],
                ['views', ev.views == null ? null : fmtNum(ev.views)]]),
            el('h2', { text: 'Current text' }),
            el('div', { class: 'msg-text current', id: 'current-text', text: msgText(ev) || '(no text)' }),
            media,
            el('h2', { text: versions.length ? `Edit history: ${versions.length} earlier version${versions.length > 1 ? 's' : ''}, oldest first` : 'Edit history' }),
            versions.length ? vlist : el('p', { class: 'muted', text: 'Never edited.' }),
            el('details', null, el('summary', { text: 'Event JSON' }), el('pre', { text: JSON.stringify(ev, null, 2) })));
    };

    // ---- search ----
    function snippetNodes(s) {
        const out = [];
        let i = 0;
        for (;;) {
            const a = s.indexOf('[', i), b = a < 0 ? -1 : s.indexOf(']', a + 1);
            if (b < 0) break;
            if (a > i) out.push(document.createTextNode(s.slice(i, a)));
            out.push(el('mark', { text: s.slice(a + 1, b) }));
            i = b + 1;
        }
        if (i < s.length) out.push(document.createTextNode(s.slice(i)));
        return out;
    }
    views.search = async (ctx, _, query) => {
        const q = query.get('q') || '', chat = query.get('chat') || '';
        const qIn = el('input', { id: 'search-q', type: 'search', required: true, value: q, size: 40, placeholder: 'words, "a phrase", a OR b' });
        const cIn = el('input', { id: 'search-chat', value: chat, size: 16, placeholder: 'chat id (optional)' });
        const form = el('form', { class: 'inline', id: 'search-form' }, el('label', { for: 'search-q', text: 'Search' }), qIn, cIn, el('button', { type: 'submit', text: 'Search' }));
        form.addEventListener('submit', ev => {
            ev.preventDefault();
            const p = new URLSearchParams({ q: qIn.value.trim() });
            if (cIn.value.trim()) p.set('chat', cIn.value.trim());
            const h = `#/search?${p}`;
            if (location.hash === h) route(); else location.hash = h;
        });
        const out = el('div', { id: 'search-results' });
        put(ctx.root, el('h1', { text: 'Search' }), form, out);
        if (!q) { qIn.focus(); return; }
        const p = new URLSearchParams({ q, limit: '100' });
        if (chat) p.set('chat', chat);
        let d;
        try { d = await api(`/api/v1/search?${p}`); } catch (e) { put(out, errorBox(e)); return; }
        if (!ctx.alive()) return;
        put(out, el('p', { class: 'muted', text: `${d.results.length} result${d.results.length === 1 ? '' : 's'}${d.results.length === 100 ? ' (the newest 100)' : ''}` }),
            el('ol', { class: 'results' }, d.results.map(r => el('li', { data: { chat: String(r.chat_id), id: String(r.message_id) } },
                el('div', { class: 'meta' }, msgLink(r.chat_id, r.message_id, `${r.chat_title || r.chat_id} · #${r.message_id}`), ' · ', timeEl(r.date),
                    r.sender_name ? ` · ${r.sender_name}` : '', r.deleted_at ? [' ', badge('deleted', 'bad')] : null),
                el('div', { class: 'snippet' }, snippetNodes(r.snippet || ''))))));
    };

    // ---- live stream: fetch + ReadableStream, so the key travels in a header ----
    const live = { items: [], lastId: null, filter: '', retryMs: 2000, view: null, state: 'idle' };
    const LIVE_MAX = 300;
    function liveState(state, detail) {
        live.state = state;
        if (!live.view) return;
        const s = live.view.state;
        s.dataset.state = state;
        s.textContent = detail ? `${state}: ${detail}` : state;
        s.className = `badge ${state === 'connected' ? 'good' : state === 'error' ? 'bad' : 'warn'}`;
    }
    function liveNode(d) {
        if (d.gap) {
            return el('li', { class: 'gap', role: 'status', text: `Some changes after ${d.gap} were dropped before they reached this page; the chat pages show the current state.` });
        }
        const ev = d.event || {};
        const when = d.kind === 'delete' ? d.deleted_at : d.kind === 'edit' && ev.edit_date ? ev.edit_date : d.date;
        const text = d.kind === 'delete' ? 'deleted' : d.truncated ? '(too large to stream: open the message)' : msgText(ev) || '(no text)';
        return el('li', { class: `live-item kind-${d.kind}`, data: { kind: d.kind, chat: String(d.chat_id), id: String(d.message_id) } },
            el('div', { class: 'meta' }, badge(d.kind, d.kind === 'delete' ? 'bad' : d.kind === 'edit' ? 'warn' : 'good'), ' ',
                el('a', { href: `#/chat/${d.chat_id}`, text: ev.chat && ev.chat.title ? `${ev.chat.title} (${d.chat_id})` : String(d.chat_id) }),
                ' · ', msgLink(d.chat_id, d.message_id), ' · ', timeEl(when)),
            el('div', { class: `msg-text${d.kind === 'delete' ? ' muted' : ''}`, text }));
    }
    function liveAdd(d) {
        live.items.unshift(d);
        if (live.items.length > LIVE_MAX) live.items.length = LIVE_MAX;
        if (!live.view) return;
        const list = live.view.list;
        list.prepend(liveNode(d));
        while (list.children.length > LIVE_MAX) list.lastElementChild.remove();
        live.view.empty.hidden = true;
    }
    function dispatch(ev) {
        if (ev.id !== null) live.lastId = ev.id;
        if (ev.data.length === 0) return;
        let d;
        try { d = JSON.parse(ev.data.join('\n')); } catch { return; }
        if (ev.event === 'gap') liveAdd({ gap: d.missed_after || '?' });
        else if ((ev.event || 'message') === 'message' && d) liveAdd(d);
    }
    const sleep = (ms, signal) => new Promise(res => {
        const t = setTimeout(res, ms);
        signal.addEventListener('abort', () => { clearTimeout(t); res(); }, { once: true });
    });
    async function liveLoop(ctrl) {
        let delay = 0;
        while (!ctrl.signal.aborted) {
            liveState(delay ? 'reconnecting' : 'connecting');
            try {
                const headers = { 'X-API-Key': apiKey, Accept: 'text/event-stream' };
                if (live.lastId) headers['Last-Event-ID'] = live.lastId;
                const res = await fetch(`/api/v1/stream${live.filter ? '?chat=' + encodeURIComponent(live.filter) : ''}`,
                    { headers, signal: ctrl.signal, cache: 'no-store' });
                if (!res.ok) {
                    let msg = `HTTP ${res.status}`;
                    try { msg = (await res.json()).error.message; } catch { /* keep the status */ }
                    if (res.status === 401) askKey(`The server refused the API key: ${msg}.`);
                    if (res.status >= 400 && res.status < 500) { liveState('error', msg); return; }
                    throw new Error(msg);
                }
                const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
                let buf = '', ev = { id: null, event: '', data: [] };
                for (;;) {
                    const { value, done } = await reader.read();
                    if (done) break;
                    if (live.state !== 'connected') { liveState('connected'); delay = 0; }
                    buf += value;
                    const cut = buf.endsWith('\r') ? buf.length - 1 : buf.length; // a CRLF may straddle chunks
                    const lines = buf.slice(0, cut).split(/\r\n|\r|\n/);
                    buf = lines.pop() + buf.slice(cut);
                    for (const line of lines) {
                        if (line === '') { dispatch(ev); ev = { id: null, event: '', data: [] }; continue; }
                        if (line[0] === ':') continue;
                        const i = line.indexOf(':');
                        const field = i < 0 ? line : line.slice(0, i);
                        let val = i < 0 ? '' : line.slice(i + 1);
                        if (val[0] === ' ') val = val.slice(1);
                        if (field === 'data') ev.data.push(val);
                        else if (field === 'event') ev.event = val;
                        else if (field === 'id' && !val.includes('\0')) ev.id = val;
                        else if (field === 'retry' && /^\d+$/.test(val)) live.retryMs = Number(val);
                    }
                }
                throw new Error('the server closed the stream');
            } catch (e) {
                if (ctrl.signal.aborted) return;
                delay = delay ? Math.min(delay * 2, 30000) : Math.max(live.retryMs, 500);
                liveState('reconnecting', `${e.message}; again in ${Math.round(delay / 1000)} s`);
                await sleep(delay, ctrl.signal);
            }
        }
    }
    views.live = async ctx => {
        const filter = el('input', { id: 'live-chat', value: live.filter, size: 36, placeholder: 'chat ids, comma-separated (empty: all)' });
        const form = el('form', { class: 'inline', id: 'live-form' }, el('label', { for: 'live-chat', text: 'Chats' }), filter,
            el('button', { type: 'submit', text: 'Apply' }),
            el('button', { type: 'button', class: 'secondary', text: 'Clear list', on: { click: () => { live.items = []; put(list); empty.hidden = false; } } }));
        const state = el('span', { id: 'live-state', class: 'badge' });
        const list = el('ol', { id: 'live-list', class: 'live' }, live.items.map(liveNode));
        const empty = el('p', { class: 'muted', text: 'Waiting for new, edited and deleted messages…', hidden: live.items.length > 0 });
        let ctrl = null;
        const start = () => { ctrl = new AbortController(); liveLoop(ctrl); };
        const stop = () => { if (ctrl) ctrl.abort(); };
        form.addEventListener('submit', ev => {
            ev.preventDefault();
            const v = filter.value.split(/[\s,]+/).filter(Boolean);
            if (v.some(x => !/^-?\d+$/.test(x))) { notify('Chat ids are integers, separated by commas.', 'error'); return; }
            stop();
            live.filter = v.join(',');
            live.lastId = null; // a new filter starts at the stream's tail
            live.items = [];
            put(list);
            empty.hidden = false;
            start();
        });
        live.view = { state, list, empty };
        put(ctx.root, el('h1', null, 'Live ', state), form, empty, list);
        liveState(live.state === 'idle' ? 'connecting' : live.state);
        ctx.onLeave(() => { stop(); live.view = null; live.state = 'idle'; });
        start();
    };

    // ---- dead letters ----
    views['dead-letters'] = async (ctx, _, query) => {
        const state = ['open', 'resolved', 'all'].includes(query.get('state')) ? query.get('state') : 'open';
        const sel = el('select', { id: 'dl-state' }, ['open', 'resolved', 'all'].map(s => el('option', { value: s, text: s, selected: s === state })));
        sel.addEventListener('change', () => { location.hash = `#/dead-letters?state=${sel.value}`; });
        const tbody = el('tbody');
        const more = el('div');
        put(ctx.root, el('h1', { text: 'Dead letters' }),
            el('form', { class: 'inline', id: 'dl-form' }, el('label', { for: 'dl-state', text: 'Show' }), sel),
            el('table', { class: 'grid dead' }, el('thead', null, el('tr', null,
                ['id', 'source', 'origin', 'position', 'reason', 'created', 'retries', 'state', ''].map(h => el('th', { text: h })))), tbody), more);

        function stateCell(cell, d, result) {
            put(cell, d.resolved_at ? badge('resolved', 'good') : badge('open', 'warn'),
                d.resolved_at ? el('span', { class: 'muted', text: ` ${fmtTime(d.resolved_at)}` }) : null,
                result ? el('span', { class: 'result', text: ` ${result}` }) : null);
        }
        function rows(d) {
            const cells = { state: el('td', { class: 'state' }), retries: td(fmtNum(d.retry_count), 'num'), reason: td(d.reason, 'wrap reason') };
            const pre = el('pre', { class: 'payload', text: d.payload || '' });
            const detail = el('tr', { class: 'payload-row', hidden: true }, el('td', { colspan: 9 },
                d.payload_truncated ? el('p', { class: 'muted', text: `${fmtNum(d.payload_bytes)} bytes; loading the whole payload…` }) : null, pre));
            let full = !d.payload_truncated;
            const show = el('button', { type: 'button', class: 'small secondary', text: 'Payload' });
            show.addEventListener('click', async () => {
                detail.hidden = !detail.hidden;
                if (detail.hidden || full) return;
                try {
                    const one = await api(`/api/v1/dead-letters/${d.id}`);
                    pre.textContent = one.payload || '';
                    detail.firstChild.firstChild.remove();
                    full = true;
                } catch (e) { pre.replaceWith(errorBox(e)); }
            });
            const retry = el('button', { type: 'button', class: 'small', text: 'Retry' });
            const resolve = el('button', { type: 'button', class: 'small secondary', text: 'Resolve' });
            const act = async (what, btn) => {
                retry.disabled = resolve.disabled = true;
                try {
                    const r = await api(`/api/v1/dead-letters/${d.id}/${what}`, { method: 'POST' });
                    Object.assign(d, r.dead_letter);
                    stateCell(cells.state, d, what === 'retry' ? r.result : 'dismissed');
                    cells.retries.textContent = fmtNum(d.retry_count);
                    notify(what === 'retry' ? `Dead letter ${d.id} retried: ${r.result}.` : `Dead letter ${d.id} resolved.`, 'ok');
                } catch (e) {
                    notify(`Dead letter ${d.id}: ${errorText(e)}`, 'error');
                    try { // a failed retry counts and stores the new reason
                        Object.assign(d, await api(`/api/v1/dead-letters/${d.id}`));
                        cells.retries.textContent = fmtNum(d.retry_count);
                        cells.reason.textContent = d.reason;
                    } catch { /* the notice says enough */ }
                    retry.disabled = resolve.disabled = Boolean(d.resolved_at);
                }
                btn.blur();
            };
            retry.addEventListener('click', () => act('retry', retry));
            resolve.addEventListener('click', () => act('resolve', resolve));
            retry.disabled = resolve.disabled = Boolean(d.resolved_at);
            stateCell(cells.state, d);
            return [el('tr', { class: 'dl', data: { id: String(d.id) } }, td(d.id, 'num'), td(d.source), td(d.origin, 'wrap'), td(d.position, 'wrap'),
                cells.reason, td(timeEl(d.created_at)), cells.retries, cells.state, el('td', { class: 'actions' }, show, retry, resolve)), detail];
        }
        async function load(before) {
            const p = new URLSearchParams({ state, limit: '100' });
            if (before) p.set('before_id', before);
            const d = await api(`/api/v1/dead-letters?${p}`);
            if (!ctx.alive()) return;
            tbody.append(...d.dead_letters.flatMap(rows));
            if (!tbody.children.length) tbody.append(el('tr', null, el('td', { colspan: 9, class: 'muted', text: `No ${state === 'all' ? '' : state + ' '}dead letters.` })));
            put(more, d.next ? el('button', { type: 'button', class: 'secondary', text: 'Older', on: { click: () => load(d.next.before_id).catch(e => notify(errorText(e), 'error')) } }) : '');
        }
        await load();
    };

    // ---- start ----
    takeKeyFromHash();
    window.addEventListener('hashchange', () => { takeKeyFromHash(); route(); });
    route();
})();
