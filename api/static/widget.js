/*
 * 一次告知 · 市民端对话挂件。
 *
 * 嵌入：<script src="https://服务地址/static/widget.js" data-region="dongying"></script>
 * 可选属性：data-api（API 地址，默认取脚本所在站点）、data-title（面板标题）、data-open="true"（自动展开）。
 * 宿主页面上带 data-yici-open 属性的元素被点击时展开面板；属性值非空时作为第一句话发送。
 *
 * Self-contained on purpose: no globals, its own CSS (`yiciw-` prefix) inside an open shadow root,
 * and every string that comes from the API is inserted with textContent (never as HTML).
 */
(function () {
  'use strict';

  var script = document.currentScript || (function () {
    var all = document.querySelectorAll('script[src*="widget.js"]');
    return all[all.length - 1];
  })();
  if (!script || document.querySelector('[data-yici-widget]')) return; // loaded twice: keep the first

  var scriptOrigin = (function () {
    try { return new URL(script.src, location.href).origin; } catch (e) { return location.origin; }
  })();
  var API = (script.getAttribute('data-api') || scriptOrigin).replace(/\/+$/, '');
  var REGION = script.getAttribute('data-region') || '';
  var TITLE = script.getAttribute('data-title') || '一次告知 · 办事助手';
  var KEY = 'yiciw:' + API + ':' + REGION;
  var MAX_HISTORY = 60;

  // ------------------------------------------------------------------ small helpers
  function h(tag, attrs) {
    var el = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') el.textContent = v;
        else if (k === 'class') el.className = v;
        else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
        else el.setAttribute(k, v === true ? '' : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }
  function append(el, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) { child.forEach(function (c) { append(el, c); }); return; }
    el.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
  function safeUrl(url) { // only http(s) links from the data, never javascript: and the like
    try {
      var u = new URL(url, API);
      return (u.protocol === 'http:' || u.protocol === 'https:') ? u.href : null;
    } catch (e) { return null; }
  }
  function store(method, key, value) {
    try {
      var s = window.sessionStorage;
      if (method === 'get') return JSON.parse(s.getItem(key) || 'null');
      if (method === 'del') return s.removeItem(key);
      s.setItem(key, JSON.stringify(value));
    } catch (e) { return null; } // storage disabled (privacy mode, sandbox): work without restore
  }
  function prefs(key, value) {
    try {
      if (value === undefined) return window.localStorage.getItem('yiciw:' + key);
      window.localStorage.setItem('yiciw:' + key, value);
    } catch (e) { return null; }
  }

  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  function call(method, path, body, raw) {
    var opts = { method: method, headers: { Accept: raw ? 'text/plain' : 'application/json' } };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    return fetch(API + path, opts).then(function (r) {
      var json = (r.headers.get('content-type') || '').indexOf('json') >= 0;
      if (r.ok) return raw ? r.text() : r.json();
      return (json ? r.json() : r.text().then(function () { return {}; })).then(function (data) {
        var e = (data && data.error) || {};
        throw new ApiError(r.status, e.code || 'http_' + r.status, e.message || '服务暂时不可用（' + r.status + '），请稍后再试。');
      });
    }, function () {
      throw new ApiError(0, 'network', '网络连接失败，请检查网络后重试。');
    });
  }

  // ------------------------------------------------------------------ styles
  var FONT = '"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei","Hiragino Sans GB",sans-serif';
  var CSS = [
    ':host{all:initial;display:contents}',
    '.yiciw-root,.yiciw-root *{box-sizing:border-box}',
    '.yiciw-root{font-family:' + FONT + ';font-size:15px;line-height:1.6;color:#1f2329;letter-spacing:normal;text-align:left;-webkit-text-size-adjust:100%}',
    '.yiciw-root.yiciw-large{font-size:19px}',
    '.yiciw-root button,.yiciw-root input,.yiciw-root textarea{font:inherit;color:inherit;margin:0}',
    '.yiciw-root button{cursor:pointer}',
    '.yiciw-root [hidden]{display:none!important}',
    '.yiciw-sr{position:absolute!important;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;clip:rect(0,0,0,0);white-space:nowrap;border:0}',
    '.yiciw-root :focus-visible{outline:3px solid #f5a623;outline-offset:2px}',
    '.yiciw-launcher{position:fixed;right:20px;bottom:20px;z-index:2147483000;display:flex;align-items:center;gap:8px;border:0;border-radius:28px;background:#c8161d;color:#fff!important;padding:12px 20px;font-size:1em;font-weight:600;box-shadow:0 4px 16px rgba(0,0,0,.25);min-height:48px}',
    '.yiciw-launcher:hover{background:#a91218}',
    '.yiciw-launcher svg{width:22px;height:22px;fill:currentColor;flex:none}',
    '.yiciw-panel{position:fixed;right:20px;bottom:20px;z-index:2147483001;width:420px;max-width:calc(100vw - 40px);height:min(680px,calc(100vh - 40px));display:flex;flex-direction:column;background:#fff;border-radius:12px;box-shadow:0 8px 32px rgba(0,0,0,.28);overflow:hidden}',
    '.yiciw-root.yiciw-large .yiciw-panel{width:520px}',
    '.yiciw-head{display:flex;align-items:center;gap:6px;padding:10px 12px;background:#c8161d;color:#fff}',
    '.yiciw-title{flex:1;margin:0;font-size:1.05em;font-weight:700;color:#fff;line-height:1.3}',
    '.yiciw-title small{display:block;font-weight:400;font-size:.8em;opacity:.9}',
    '.yiciw-hbtn{border:1px solid rgba(255,255,255,.6);background:transparent;color:#fff!important;border-radius:6px;padding:4px 8px;min-height:36px;min-width:36px;font-size:.9em}',
    '.yiciw-hbtn:hover,.yiciw-hbtn[aria-pressed="true"]{background:rgba(255,255,255,.22)}',
    '.yiciw-body{position:relative;flex:1;overflow-y:auto;padding:12px;background:#f5f6f8;overscroll-behavior:contain}',
    '.yiciw-log{display:flex;flex-direction:column;gap:8px}',
    '.yiciw-msg{max-width:88%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere}',
    '.yiciw-msg-bot{align-self:flex-start;background:#fff;border:1px solid #e3e5e8;border-top-left-radius:4px}',
    '.yiciw-msg-user{align-self:flex-end;background:#c8161d;color:#fff;border-top-right-radius:4px}',
    '.yiciw-msg-error{align-self:stretch;max-width:100%;background:#fff4e5;border:1px solid #f0b060;color:#7a4100}',
    '.yiciw-msg-typing{color:#6b7280;font-style:italic}',
    '.yiciw-turn{margin-top:10px;display:flex;flex-direction:column;gap:10px}',
    '.yiciw-opts{display:flex;flex-wrap:wrap;gap:8px}',
    '.yiciw-opt{border:1px solid #c8161d;background:#fff;color:#c8161d!important;border-radius:18px;padding:6px 14px;min-height:40px;text-align:left;line-height:1.35}',
    '.yiciw-opt:hover{background:#fdecec}',
    '.yiciw-opt-cmd{border-color:#9ca3af;color:#374151!important}',
    '.yiciw-opt-cmd:hover{background:#eef0f3}',
    '.yiciw-root [aria-disabled="true"],.yiciw-root button:disabled{opacity:.55;cursor:progress}',
    '.yiciw-foot{border-top:1px solid #e3e5e8;background:#fff;padding:8px}',
    '.yiciw-form{display:flex;gap:8px}',
    '.yiciw-input{flex:1;min-width:0;border:1px solid #c4c8cf;border-radius:8px;padding:8px 10px;min-height:44px;background:#fff}',
    '.yiciw-send{border:0;border-radius:8px;background:#c8161d;color:#fff!important;padding:0 18px;min-height:44px;font-weight:600;flex:none}',
    '.yiciw-note{margin:4px 2px 0;font-size:.75em;color:#6b7280}',
    '.yiciw-card{background:#fff;border:1px solid #d9dce1;border-radius:10px;padding:12px}',
    '.yiciw-card h3{margin:0 0 2px;font-size:1.1em;color:#a31016}',
    '.yiciw-card h3:focus{outline:none}',
    '.yiciw-card h4{margin:14px 0 6px;font-size:1em;border-left:4px solid #c8161d;padding-left:8px}',
    '.yiciw-meta{margin:0;font-size:.85em;color:#6b7280}',
    '.yiciw-stats{margin:6px 0 0;font-weight:600}',
    '.yiciw-list{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:8px}',
    '.yiciw-item{border:1px solid #e3e5e8;border-radius:8px;padding:8px 10px;background:#fafbfc}',
    '.yiciw-item.yiciw-off{opacity:.6;background:#f1f2f4}',
    '.yiciw-item.yiciw-off .yiciw-name{text-decoration:line-through}',
    '.yiciw-line{display:flex;flex-wrap:wrap;align-items:center;gap:4px 6px}',
    '.yiciw-name{font-weight:600}',
    '.yiciw-badge{display:inline-block;font-size:.75em;line-height:1.4;padding:1px 6px;border-radius:4px;background:#eef0f3;color:#374151;white-space:nowrap}',
    '.yiciw-b-must{background:#fde2e2;color:#a31016}',
    '.yiciw-b-opt{background:#e3eefc;color:#1d4ed8}',
    '.yiciw-b-exempt{background:#dcfce7;color:#166534}',
    '.yiciw-b-tol{background:#fef3c7;color:#92400e}',
    '.yiciw-b-cond{background:#ede9fe;color:#5b21b6}',
    '.yiciw-b-unsure{background:#fff4e5;color:#9a3412;border:1px dashed #f59e0b}',
    '.yiciw-b-shared{background:#e0f2fe;color:#075985}',
    '.yiciw-dl{margin:6px 0 0;display:grid;grid-template-columns:auto 1fr;gap:2px 8px;font-size:.9em}',
    '.yiciw-dl dt{color:#6b7280;white-space:nowrap}',
    '.yiciw-dl dd{margin:0;overflow-wrap:anywhere}',
    '.yiciw-sub{margin:4px 0 0;font-size:.9em;color:#374151;overflow-wrap:anywhere}',
    '.yiciw-toggle{display:inline-flex;align-items:center;gap:6px;margin-left:auto;font-size:.9em;cursor:pointer;min-height:32px}',
    '.yiciw-toggle input{width:20px;height:20px;accent-color:#c8161d}',
    '.yiciw-card details{margin-top:10px;font-size:.9em}',
    '.yiciw-item details{margin-top:4px}',
    '.yiciw-item summary{font-weight:400;color:#1d4ed8;min-height:28px}',
    '.yiciw-card summary{cursor:pointer;font-weight:600;min-height:32px}',
    '.yiciw-card ol.yiciw-steps{margin:0;padding-left:1.4em}',
    '.yiciw-answers{list-style:none;margin:0;padding:0}',
    '.yiciw-answers li{display:flex;gap:8px;align-items:flex-start;justify-content:space-between;padding:4px 0;border-bottom:1px dashed #e3e5e8}',
    '.yiciw-link{border:0;background:none;color:#1d4ed8!important;text-decoration:underline;padding:2px 4px;min-height:32px;flex:none}',
    '.yiciw-actions{display:flex;flex-wrap:wrap;gap:8px;margin-top:12px}',
    '.yiciw-btn{display:inline-flex;align-items:center;justify-content:center;border:1px solid #c8161d;border-radius:8px;padding:6px 14px;min-height:40px;background:#c8161d;color:#fff!important;text-decoration:none!important;font-weight:600}',
    '.yiciw-btn-2{background:#fff;color:#c8161d!important}',
    '.yiciw-status{font-size:.85em;color:#166534;align-self:center}',
    '.yiciw-rate{background:#fff;border:1px solid #d9dce1;border-radius:10px;padding:10px 12px}',
    '.yiciw-rate fieldset{border:0;margin:0;padding:0}',
    '.yiciw-rate legend{font-weight:600;padding:0;margin-bottom:6px}',
    '.yiciw-stars{display:flex;flex-wrap:wrap;gap:6px}',
    '.yiciw-star{border:1px solid #c4c8cf;background:#fff;border-radius:6px;padding:4px 8px;min-height:40px;font-size:.9em}',
    '.yiciw-star[aria-pressed="true"]{background:#c8161d;border-color:#c8161d;color:#fff!important}',
    '.yiciw-rate textarea{width:100%;margin-top:8px;border:1px solid #c4c8cf;border-radius:6px;padding:6px;min-height:56px;resize:vertical}',
    '@media (max-width:480px){.yiciw-title small{display:none}.yiciw-panel{inset:0;right:0;bottom:0;width:100%!important;max-width:100%;height:100%;border-radius:0}.yiciw-launcher{right:12px;bottom:12px}.yiciw-root.yiciw-open .yiciw-launcher{display:none}}',
    '@media (prefers-reduced-motion:reduce){.yiciw-root *{transition:none!important;animation:none!important}}',
    '@media print{.yiciw-root{display:none!important}}'
  ].join('\n');

  // ------------------------------------------------------------------ DOM skeleton
  var uid = 'yiciw-' + Math.random().toString(36).slice(2, 8);
  var root = h('div', { class: 'yiciw-root', 'data-region': REGION });
  var launcher = h('button', { type: 'button', class: 'yiciw-launcher', 'aria-expanded': 'false', 'aria-controls': uid + '-panel' });
  launcher.appendChild(chatIcon());
  append(launcher, h('span', { text: '办事咨询' }));

  var titleEl = h('h2', { class: 'yiciw-title', id: uid + '-title' }, TITLE, h('small', { text: '问清情况，一次告知要办的事和材料' }));
  var largeBtn = h('button', { type: 'button', class: 'yiciw-hbtn', 'aria-pressed': 'false', title: '大字模式', text: '大字' });
  var restartBtn = h('button', { type: 'button', class: 'yiciw-hbtn', title: '重新开始', text: '重来' });
  var closeBtn = h('button', { type: 'button', class: 'yiciw-hbtn', 'aria-label': '关闭办事助手', title: '关闭（Esc）', text: '✕' });
  var log = h('div', { class: 'yiciw-log', role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions', 'aria-label': '对话记录' });
  var turn = h('div', { class: 'yiciw-turn' });
  var body = h('div', { class: 'yiciw-body' }, log, turn);
  var input = h('input', { class: 'yiciw-input', type: 'text', id: uid + '-input', maxlength: '500', autocomplete: 'off',
    enterkeyhint: 'send', placeholder: '请输入您要办的事或回答…', 'aria-label': '输入您的问题或回答' });
  var sendBtn = h('button', { type: 'submit', class: 'yiciw-send', text: '发送' });
  var form = h('form', { class: 'yiciw-form', 'aria-label': '发送消息' }, input, sendBtn);
  var announcer = h('div', { class: 'yiciw-sr yiciw-announce', role: 'status', 'aria-live': 'polite' });
  var panel = h('div', { class: 'yiciw-panel', id: uid + '-panel', role: 'dialog', 'aria-modal': 'false', 'aria-labelledby': uid + '-title', hidden: true },
    h('div', { class: 'yiciw-head' }, titleEl, largeBtn, restartBtn, closeBtn),
    body,
    h('div', { class: 'yiciw-foot' }, form, h('p', { class: 'yiciw-note', text: '请勿输入身份证号、手机号等个人信息。清单仅供参考，以窗口告知为准。' })),
    announcer);
  root.appendChild(launcher);
  root.appendChild(panel);

  function chatIcon() {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('d', 'M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2zm3 6v2h2V9H7zm4 0v2h2V9h-2zm4 0v2h2V9h-2z');
    svg.appendChild(p);
    return svg;
  }

  // ------------------------------------------------------------------ state
  var state = { session: null, last: null, history: [], rated: false, busy: false, starting: null };

  function save() {
    store('set', KEY, { session: state.session, history: state.history.slice(-MAX_HISTORY), rated: state.rated,
      open: !panel.hidden });
  }

  function setBusy(busy) {
    state.busy = busy;
    sendBtn.disabled = busy;
    body.setAttribute('aria-busy', busy ? 'true' : 'false');
    turn.querySelectorAll('button').forEach(function (b) {
      if (busy) b.setAttribute('aria-disabled', 'true'); else b.removeAttribute('aria-disabled');
    });
  }

  // ------------------------------------------------------------------ transcript
  var typing = null;
  function addBubble(who, text, remember) {
    var label = who === 'user' ? '您说：' : who === 'error' ? '提示：' : '助手：';
    var el = h('div', { class: 'yiciw-msg yiciw-msg-' + who }, h('span', { class: 'yiciw-sr', text: label }), text);
    if (who === 'error') el.setAttribute('role', 'alert');
    log.appendChild(el);
    if (remember !== false) { state.history.push({ who: who, text: text }); save(); }
    return el;
  }
  function showTyping() {
    hideTyping();
    typing = h('div', { class: 'yiciw-msg yiciw-msg-bot yiciw-msg-typing', 'aria-hidden': 'true', text: '正在查询，请稍候…' });
    log.appendChild(typing);
    scrollTo(typing);
  }
  function hideTyping() { if (typing) { typing.remove(); typing = null; } }
  function scrollTo(el) { // scroll the panel only, never the host page
    body.scrollTop = Math.max(0, el.offsetTop - 8);
  }

  // ------------------------------------------------------------------ conversation
  function ensureSession() {
    if (state.session) return Promise.resolve(state.session);
    if (state.starting) return state.starting;
    if (!REGION) {
      addBubble('error', '挂件未配置地区（data-region），无法开始咨询。');
      return Promise.reject(new ApiError(0, 'no_region', '未配置地区'));
    }
    setBusy(true);
    showTyping();
    state.starting = call('POST', '/api/v1/sessions', { region: REGION, channel: 'web' }).then(function (rep) {
      state.session = rep.session_id;
      state.starting = null;
      setBusy(false);
      handleReply(rep, 'start');
      return rep.session_id;
    }, function (err) {
      state.starting = null;
      hideTyping();
      setBusy(false);
      addBubble('error', err.message || '无法开始会话，请稍后再试。');
      throw err;
    });
    return state.starting;
  }

  function send(payload, shown, via) {
    if (state.busy) return Promise.resolve();
    return ensureSession().then(function () {
      if (shown) addBubble('user', shown);
      setBusy(true);
      showTyping();
      return call('POST', '/api/v1/sessions/' + encodeURIComponent(state.session) + '/messages', payload).then(function (rep) {
        setBusy(false);
        handleReply(rep, via);
      }, function (err) {
        hideTyping();
        setBusy(false);
        if (err.code === 'session_not_found') { // expired: start over instead of failing every turn
          forget();
          addBubble('error', '会话已过期，已为您重新开始。');
          return ensureSession();
        }
        addBubble('error', err.message);
      });
    }, function () { /* already reported */ });
  }

  function forget() {
    state.session = null; state.last = null; state.rated = false;
    turn.textContent = '';
    save();
  }

  function handleReply(rep, via) {
    hideTyping();
    state.last = rep;
    var bubble = addBubble('bot', rep.reply || '');
    renderTurn(rep);
    scrollTo(bubble);
    if (via === 'option') { // the clicked button is gone: move to the next choice, or to the result
      var target = rep.checklist ? turn.querySelector('.yiciw-card h3') : turn.querySelector('.yiciw-opt');
      (target || input).focus({ preventScroll: true });
    } else if (via === 'start' && !panel.hidden) {
      input.focus({ preventScroll: true });
    }
  }

  function renderTurn(rep) {
    turn.textContent = '';
    if (rep.checklist) turn.appendChild(renderCard(rep.checklist, rep));
    var options = (rep.options || []).filter(function (o) {
      // the card carries the toggles and the answer summary itself
      return !(rep.checklist && (o.value.indexOf('toggle:') === 0 || o.value === 'cmd:summary'));
    });
    if (options.length) {
      var group = h('div', { class: 'yiciw-opts', role: 'group', 'aria-label': rep.question ? '请选择：' + rep.question.text : '可选操作' });
      options.forEach(function (o) {
        var isCmd = o.value.indexOf('cmd:') === 0;
        group.appendChild(h('button', { type: 'button', class: 'yiciw-opt' + (isCmd ? ' yiciw-opt-cmd' : ''), 'data-value': o.value,
          text: o.label, onclick: function () { if (!state.busy) send({ option: o.value }, o.label, 'option'); } }));
      });
      turn.appendChild(group);
    }
    if (!rep.checklist && rep.answer_summary && rep.answer_summary.length) {
      var det = h('details', { class: 'yiciw-rate' },
        h('summary', { text: '已回答 ' + rep.answer_summary.length + ' 个问题（可修改）' }),
        answersList(rep.answer_summary));
      turn.appendChild(det);
    }
    if (rep.checklist && !state.rated) turn.appendChild(renderRating());
  }

  function answersList(summary) {
    return h('ul', { class: 'yiciw-answers' }, summary.map(function (a) {
      return h('li', null,
        h('span', null, h('span', { text: a.question + ' ' }), h('strong', { text: a.answer })),
        h('button', { type: 'button', class: 'yiciw-link', 'data-change': a.question_id, 'aria-label': '修改：' + a.question, text: '修改',
          onclick: function () { if (!state.busy) send({ option: 'cmd:change:' + a.question_id }, '修改：' + a.question, 'option'); } }));
    }));
  }

  // ------------------------------------------------------------------ checklist card
  function badge(text, kind) { return h('span', { class: 'yiciw-badge' + (kind ? ' yiciw-b-' + kind : ''), text: text }); }

  function renderCard(cl, rep) {
    var names = {};
    cl.sub_matters.forEach(function (m) { names[m.id] = m.name; });
    var chosen = cl.sub_matters.filter(function (m) { return m.selected; });
    var toSubmit = cl.materials.filter(function (m) { return !m.exempt; });
    var heading = h('h3', { tabindex: '-1', id: uid + '-card', text: '一次告知清单：' + (cl.scenario_name || '') });
    var card = h('section', { class: 'yiciw-card', 'aria-labelledby': uid + '-card', 'data-scenario': cl.scenario },
      heading,
      h('p', { class: 'yiciw-meta', text: [cl.region_name, '生成日期 ' + cl.date, '知识版本 ' + cl.knowledge_version].join(' · ') }),
      h('p', { class: 'yiciw-stats', text: '办理 ' + chosen.length + ' 个事项 · 需提交 ' + toSubmit.length + ' 项材料' +
        (cl.materials.length > toSubmit.length ? '（另有 ' + (cl.materials.length - toSubmit.length) + ' 项免提交）' : '') }));

    card.appendChild(h('h4', { text: '一、办理事项' }));
    card.appendChild(h('ul', { class: 'yiciw-list yiciw-subs' }, cl.sub_matters.map(function (m) { return subMatter(m); })));

    card.appendChild(h('h4', { text: '二、需准备的材料（已合并，一份材料只列一次）' }));
    card.appendChild(cl.materials.length ? h('ol', { class: 'yiciw-list yiciw-mats' }, cl.materials.map(function (m) { return material(m, names); }))
      : h('p', { class: 'yiciw-sub', text: '无需提交材料。' }));

    if (cl.steps && cl.steps.length) {
      card.appendChild(h('h4', { text: '三、办理顺序' }));
      card.appendChild(h('ol', { class: 'yiciw-steps' }, cl.steps.map(function (s) {
        var after = (s.after || []).map(function (id) { return names[id] || id; });
        return h('li', null, h('span', { text: s.name }),
          after.length ? h('span', { class: 'yiciw-sub', text: '（在“' + after.join('”“') + '”之后）' }) : null, ' ',
          badge(s.in_person ? '需到现场' : '可不到现场'));
      })));
    }

    var answers = (rep && rep.answer_summary && rep.answer_summary.length) ? rep.answer_summary : (cl.answers || []);
    if (answers.length) {
      card.appendChild(h('h4', { text: '四、您的情况（点“修改”重新回答）' }));
      card.appendChild(answersList(answers));
    }

    if (cl.uncertain && cl.uncertain.length) {
      card.appendChild(h('details', { class: 'yiciw-unsure' },
        h('summary', null, '待确认事项 ', badge(String(cl.uncertain.length), 'unsure')),
        h('p', { class: 'yiciw-sub', text: '以下内容资料未能完全核实，请以办理窗口告知为准：' }),
        h('ul', null, cl.uncertain.map(function (u) { return h('li', { text: u }); }))));
    }
    if (cl.sources && cl.sources.length) {
      card.appendChild(h('details', { class: 'yiciw-sources' },
        h('summary', { text: '政策依据与资料来源（' + cl.sources.length + '）' }),
        h('ul', null, cl.sources.map(function (s) {
          var label = [s.title, s.publisher, s.region, s.date].filter(Boolean).join(' · ');
          var href = s.url && safeUrl(s.url);
          return h('li', null, href ? h('a', { href: href, target: '_blank', rel: 'noopener noreferrer', text: label }) : label);
        }))));
    }

    var status = h('span', { class: 'yiciw-status', role: 'status' });
    var sid = encodeURIComponent(state.session || '');
    card.appendChild(h('div', { class: 'yiciw-actions' },
      h('a', { class: 'yiciw-btn', href: API + '/api/v1/sessions/' + sid + '/checklist?format=html', target: '_blank', rel: 'noopener',
        text: '打印 / 下载清单' }),
      h('button', { type: 'button', class: 'yiciw-btn yiciw-btn-2', text: '复制文字版', onclick: function () {
        call('GET', '/api/v1/sessions/' + sid + '/checklist?format=text&long=true', undefined, true)
          .then(copyText).then(function () { status.textContent = '已复制'; }, function (e) { status.textContent = e.message || '复制失败，请手动选择文字复制。'; });
      } }),
      status));
    return card;
  }

  function subMatter(m) {
    var line = h('div', { class: 'yiciw-line' }, h('span', { class: 'yiciw-name', text: m.name }),
      badge(m.mandatory ? '必办' : '可选', m.mandatory ? 'must' : 'opt'),
      !m.applies ? badge('视情况', 'cond') : null,
      (m.uncertain && m.uncertain.length) ? badge('待确认', 'unsure') : null);
    if (!m.mandatory) {
      var box = h('input', { type: 'checkbox', 'data-sub': m.id });
      box.checked = !!m.selected;
      box.addEventListener('change', function () { toggleSub(m.id, box.checked, box); });
      line.appendChild(h('label', { class: 'yiciw-toggle' }, box, h('span', { text: '一并办理' }), h('span', { class: 'yiciw-sr', text: m.name })));
    }
    var tl = m.time_limit || {};
    var time = [tl.statutory && '法定：' + tl.statutory, tl.promised && '承诺：' + tl.promised].filter(Boolean).join('；');
    var dl = h('dl', { class: 'yiciw-dl' });
    function row(label, value) { if (value) { dl.appendChild(h('dt', { text: label })); dl.appendChild(h('dd', null, value)); } }
    row('办理部门', m.department);
    row('办理时限', time);
    row('收费', m.fee);
    if (m.places && m.places.length) {
      row('办理地点', m.places.map(function (p) {
        return h('div', { text: [p.name, p.address, p.hours && '时间：' + p.hours, p.phone && '电话：' + p.phone].filter(Boolean).join('，') });
      }));
    }
    var more = h('details', null, h('summary', { text: '更多：办理方式、结果' + ((m.uncertain && m.uncertain.length) ? '、待确认' : '') }),
      h('dl', { class: 'yiciw-dl' },
        h('dt', { text: '办理方式' }), h('dd', { text: (m.channels || []).join('、') + ((m.channels || []).length ? '；' : '') + (m.in_person ? '需本人到现场' : '可不到现场') }),
        m.result ? [h('dt', { text: '办理结果' }), h('dd', { text: m.result })] : null,
        (m.uncertain && m.uncertain.length) ? [h('dt', { text: '待确认' }), h('dd', null, m.uncertain.map(function (u) { return h('div', { text: u }); }))] : null));
    return h('li', { class: 'yiciw-item yiciw-submatter' + (m.selected ? '' : ' yiciw-off'), 'data-id': m.id },
      line,
      m.condition ? h('p', { class: 'yiciw-sub', text: '适用情形：' + m.condition }) : null,
      m.selected ? [dl, more] : h('p', { class: 'yiciw-sub', text: '未选择办理（勾选“一并办理”可加入清单）' }));
  }

  function material(m, names) {
    var used = (m.needed_by || []).map(function (id) { return names[id] || id; });
    return h('li', { class: 'yiciw-item yiciw-material' + (m.exempt ? ' yiciw-exempt' : ''), 'data-id': m.id },
      h('div', { class: 'yiciw-line' }, h('span', { class: 'yiciw-name', text: m.name }),
        m.form ? badge(m.form) : null,
        m.copies > 1 ? badge(m.copies + ' 份') : null,
        m.exempt ? badge('免提交', 'exempt') : null,
        (m.tolerance && m.tolerance.length) ? badge('容缺', 'tol') : null,
        m.condition ? badge('视情况', 'cond') : null,
        used.length > 1 ? badge(used.length + ' 个事项共用', 'shared') : null,
        m.uncertain ? badge('待确认', 'unsure') : null),
      h('p', { class: 'yiciw-sub yiciw-usedby', text: '用于：' + used.join('、') }),
      m.exempt ? h('p', { class: 'yiciw-sub', text: '免提交：' + (m.exempt_source || '部门间数据共享，无需提交') }) : null,
      (m.tolerance || []).map(function (t) { return h('p', { class: 'yiciw-sub', text: '容缺受理：' + t }); }),
      m.condition ? h('p', { class: 'yiciw-sub', text: '需要时：' + m.condition }) : null,
      (m.holders && m.holders.length) ? h('p', { class: 'yiciw-sub', text: '材料所属：' + m.holders.join('、') }) : null,
      m.note ? h('p', { class: 'yiciw-sub', text: '说明：' + m.note }) : null);
  }

  function toggleSub(id, on, box) {
    if (state.busy) { box.checked = !on; return; }
    setBusy(true);
    box.disabled = true;
    var change = {};
    change[id] = on;
    call('PATCH', '/api/v1/sessions/' + encodeURIComponent(state.session) + '/selection', change).then(function (cl) {
      setBusy(false);
      state.last = Object.assign({}, state.last, { checklist: cl });
      var old = turn.querySelector('.yiciw-card');
      var fresh = renderCard(cl, state.last);
      old.parentNode.replaceChild(fresh, old);
      var chosen = cl.sub_matters.filter(function (m) { return m.selected; }).length;
      var mats = cl.materials.filter(function (m) { return !m.exempt; }).length;
      announcer.textContent = '清单已更新：办理 ' + chosen + ' 个事项，需提交 ' + mats + ' 项材料。';
      var again = fresh.querySelector('input[data-sub="' + id + '"]');
      if (again) again.focus({ preventScroll: true });
    }, function (err) {
      setBusy(false);
      box.disabled = false;
      box.checked = !on;
      addBubble('error', err.message);
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) { // plain-http deployments: the legacy way
      var ta = h('textarea', { class: 'yiciw-sr', readonly: true });
      ta.value = text;
      root.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      ta.remove();
      if (ok) resolve(); else reject(new ApiError(0, 'copy', '复制失败，请手动选择文字复制。'));
    });
  }

  // ------------------------------------------------------------------ 好差评
  var LEVELS = [[5, '非常满意'], [4, '满意'], [3, '基本满意'], [2, '不满意'], [1, '非常不满意']];
  function renderRating() {
    var chosen = 0;
    var comment = h('textarea', { maxlength: '1000', 'aria-label': '评价意见（选填）', placeholder: '意见建议（选填，请勿填写个人信息）' });
    var submit = h('button', { type: 'button', class: 'yiciw-btn', text: '提交评价', disabled: true });
    var status = h('span', { class: 'yiciw-status', role: 'status' });
    var stars = h('div', { class: 'yiciw-stars' }, LEVELS.map(function (l) {
      return h('button', { type: 'button', class: 'yiciw-star', 'aria-pressed': 'false', 'data-rating': l[0], text: l[1],
        onclick: function (ev) {
          chosen = l[0];
          stars.querySelectorAll('button').forEach(function (b) { b.setAttribute('aria-pressed', b === ev.currentTarget ? 'true' : 'false'); });
          submit.disabled = false;
        } });
    }));
    var box = h('div', { class: 'yiciw-rate' }, h('fieldset', null, h('legend', { text: '这次告知对您有帮助吗？请评价（好差评）' }), stars),
      comment, h('div', { class: 'yiciw-actions' }, submit, status));
    submit.addEventListener('click', function () {
      if (!chosen) return;
      submit.disabled = true;
      call('POST', '/api/v1/sessions/' + encodeURIComponent(state.session) + '/feedback', { rating: chosen, comment: comment.value.trim() }).then(function (r) {
        state.rated = true;
        save();
        box.textContent = '';
        box.appendChild(h('p', { class: 'yiciw-status', role: 'status', text: (r && r.message) || '感谢您的评价！' }));
      }, function (err) {
        submit.disabled = false;
        status.textContent = err.message;
      });
    });
    return box;
  }

  // ------------------------------------------------------------------ open / close / restore
  function open(focus) {
    if (!panel.hidden) return ensureSession().catch(function () {});
    panel.hidden = false;
    root.classList.add('yiciw-open');
    launcher.setAttribute('aria-expanded', 'true');
    save();
    if (focus !== false) input.focus({ preventScroll: true });
    return ensureSession().catch(function () {});
  }
  function close() {
    panel.hidden = true;
    root.classList.remove('yiciw-open');
    launcher.setAttribute('aria-expanded', 'false');
    save();
    launcher.focus({ preventScroll: true });
  }

  function setLarge(on) {
    root.classList.toggle('yiciw-large', on);
    largeBtn.setAttribute('aria-pressed', on ? 'true' : 'false');
    prefs('large', on ? '1' : '0');
  }

  launcher.addEventListener('click', function () { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener('click', close);
  largeBtn.addEventListener('click', function () { setLarge(largeBtn.getAttribute('aria-pressed') !== 'true'); });
  restartBtn.addEventListener('click', function () {
    if (state.busy) return;
    log.textContent = '';
    state.history = [];
    state.rated = false;
    save();
    if (state.session) send({ option: 'cmd:restart' }, null, 'option'); else ensureSession().catch(function () {});
  });
  panel.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape') { ev.preventDefault(); close(); }
  });
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text || state.busy) return;
    input.value = '';
    send({ text: text }, text, 'text');
  });
  // host-page shortcuts: <a data-yici-open="孩子出生要办哪些手续">
  document.addEventListener('click', function (ev) {
    var el = ev.target && ev.target.closest ? ev.target.closest('[data-yici-open]') : null;
    if (!el || host.contains(el)) return;
    ev.preventDefault();
    var ask = el.getAttribute('data-yici-open');
    open().then(function () { if (ask) send({ text: ask }, ask, 'text'); });
  });

  function restore() {
    var saved = store('get', KEY);
    setLarge(prefs('large') === '1');
    if (!saved || !saved.session) {
      if (script.getAttribute('data-open') === 'true') open(false);
      return;
    }
    state.session = saved.session;
    state.history = saved.history || [];
    state.rated = !!saved.rated;
    state.history.forEach(function (m) { addBubble(m.who, m.text, false); });
    call('GET', '/api/v1/sessions/' + encodeURIComponent(saved.session)).then(function (rep) {
      state.last = rep;
      renderTurn(rep);
      if (!state.history.length) addBubble('bot', rep.reply || '');
      if (saved.open) { open(false); scrollTo(turn); }
    }, function () {
      // expired or unknown: start clean the next time the panel opens
      log.textContent = '';
      state.history = [];
      forget();
      if (saved.open) open(false);
    });
  }

  // An open shadow root keeps the host page's element rules (and !important ones) off the widget
  // and ours off the page; open so that assistive technology and tests can see inside.
  var host = h('div', { 'data-yici-widget': '' });
  function mount() {
    var style = document.createElement('style');
    style.textContent = CSS;
    var where = host.attachShadow ? host.attachShadow({ mode: 'open' }) : host;
    where.appendChild(style);
    where.appendChild(root);
    document.body.appendChild(host);
    restore();
  }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);
})();
