/*
 * 12345 热线坐席控制台：口令登录，边输入边检索，一件事完整指南 / 单项事项指南，
 * 代来电人问答（channel=hotline），一键复制短信文字。
 */
(function () {
  'use strict';
  var Y = window.Yici, h = Y.h;
  var TOKEN = 'yici-console:token', REGION = 'yici-console:region', SESSION = 'yici-console:session';

  function $(id) { return document.getElementById(id); }
  var el = {
    login: $('login'), loginForm: $('login-form'), token: $('token'), loginError: $('login-error'),
    app: $('app'), logout: $('logout'), region: $('region'), q: $('q'), results: $('results'),
    detail: $('detail'), start: $('start-session')
  };
  function store(k, v) {
    try {
      if (v === undefined) return sessionStorage.getItem(k);
      if (v === null) sessionStorage.removeItem(k); else sessionStorage.setItem(k, v);
    } catch (e) { return null; }
  }
  var token = store(TOKEN) || '';

  // ------------------------------------------------------------------ auth
  function authed(method, path, body, opts) {
    opts = Object.assign({}, opts || {}, { token: token });
    return Y.api(method, path, body, opts).catch(function (err) {
      if (err && (err.status === 401 || err.status === 403)) showLogin(err.message);
      throw err;
    });
  }

  function showLogin(message) {
    token = '';
    store(TOKEN, null);
    el.app.hidden = true;
    el.logout.hidden = true;
    el.login.hidden = false;
    el.loginError.textContent = message || '';
    el.token.focus();
  }
  function showApp() {
    el.login.hidden = true;
    el.app.hidden = false;
    el.logout.hidden = false;
    el.loginError.textContent = '';
    el.q.focus();
    var saved = store(SESSION);
    if (saved) resumeSession(saved);
  }

  el.loginForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var value = el.token.value.trim();
    if (!value) { el.loginError.textContent = '请输入坐席口令。'; el.token.focus(); return; }
    el.loginError.textContent = '正在验证…';
    Y.api('POST', '/api/v1/auth/check', null, { token: value }).then(function () {
      token = value;
      store(TOKEN, value);
      el.token.value = '';
      showApp();
    }, function (err) {
      el.loginError.textContent = err.message || '登录失败，请重试。';
      el.token.select();
      el.token.focus();
    });
  });
  el.logout.addEventListener('click', function () {
    store(SESSION, null);
    session = null;
    showLogin('已退出登录。');
  });

  // ------------------------------------------------------------------ region
  (function initRegion() {
    var wanted = new URLSearchParams(location.search).get('region') || localStorage.getItem(REGION) || 'dongying';
    if ([].some.call(el.region.options, function (o) { return o.value === wanted; })) el.region.value = wanted;
  })();
  function region() { return el.region.value; }
  el.region.addEventListener('change', function () {
    try { localStorage.setItem(REGION, region()); } catch (e) { /* private mode */ }
    if (el.q.value.trim()) runSearch();
    if (current && current.type === 'scenario') openScenario(current.id);
    else if (current && current.type === 'matter') openMatter(current.id);
  });

  // ------------------------------------------------------------------ search
  var timer = null, seq = 0, inflight = null;
  el.q.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(runSearch, 200); // the operator is still typing: one request per pause
  });
  el.q.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      clearTimeout(timer);
      runSearch().then(function () {
        var first = el.results.querySelector('.result');
        if (first) first.click();
      });
    } else if (ev.key === 'ArrowDown') {
      var first = el.results.querySelector('.result');
      if (first) { ev.preventDefault(); first.focus(); }
    }
  });
  el.results.addEventListener('keydown', function (ev) { // arrow keys move through the result buttons
    if (ev.key !== 'ArrowDown' && ev.key !== 'ArrowUp') return;
    var all = [].slice.call(el.results.querySelectorAll('.result'));
    var i = all.indexOf(document.activeElement);
    if (i < 0) return;
    ev.preventDefault();
    if (ev.key === 'ArrowUp' && i === 0) { el.q.focus(); return; }
    var next = all[Math.max(0, Math.min(all.length - 1, i + (ev.key === 'ArrowDown' ? 1 : -1)))];
    next.focus();
  });

  function runSearch() {
    var q = el.q.value.trim();
    var mine = ++seq;
    if (inflight) inflight.abort();
    if (!q) { Y.clear(el.results); return Promise.resolve(); }
    inflight = new AbortController();
    el.results.setAttribute('aria-busy', 'true');
    return authed('GET', '/api/v1/search?q=' + encodeURIComponent(q) + '&region=' + encodeURIComponent(region()), null,
      { signal: inflight.signal }).then(function (data) {
      if (mine !== seq) return;
      el.results.setAttribute('aria-busy', 'false');
      renderResults(data);
    }, function (err) {
      if (mine !== seq || (err && err.name === 'AbortError')) return;
      el.results.setAttribute('aria-busy', 'false');
      Y.clear(el.results).appendChild(h('p', { class: 'error', role: 'alert', text: err.message }));
    });
  }

  function renderResults(data) {
    var box = Y.clear(el.results);
    box.appendChild(h('h2', { class: 'results-title' }, '“', h('span', { class: 'query', text: data.query }), '” 的检索结果'));
    if (data.none) {
      box.appendChild(h('p', { class: 'hint', text: '没有明确匹配的一件事，请换个说法，或从下面的相近结果中选择。' }));
    }
    if (data.scenarios && data.scenarios.length) {
      box.appendChild(h('h3', { text: '一件事' }));
      box.appendChild(h('ul', { class: 'result-list' }, data.scenarios.map(function (s) {
        return h('li', null, h('button', { type: 'button', class: 'result result-scenario', 'data-scenario': s.id,
          onclick: function () { openScenario(s.id); } },
          h('span', { class: 'result-name', text: s.name }),
          s.id === data.best ? Y.badge('最匹配', 'must') : null,
          Y.badge(s.published ? '本地已发布' : '本地未发布', s.published ? 'exempt' : 'unsure'),
          (s.publishers && s.publishers.length) ? h('small', { text: '发布地区：' + s.publishers.join('、') }) : null));
      })));
    }
    if (data.matters && data.matters.length) {
      box.appendChild(h('h3', { text: '单项事项' }));
      box.appendChild(h('ul', { class: 'result-list' }, data.matters.map(function (m) {
        return h('li', null, h('button', { type: 'button', class: 'result result-matter', 'data-matter': m.key,
          onclick: function () { openMatter(m.key); } },
          h('span', { class: 'result-name', text: m.name }),
          Y.badge(m.kind === 'lifecycle' ? '事项清单' : '一件事内事项')));
      })));
    }
    if (!(data.scenarios || []).length && !(data.matters || []).length) {
      box.appendChild(h('p', { class: 'hint', text: '没有找到相关结果。' }));
    }
  }

  // ------------------------------------------------------------------ detail pane
  var current = null; // what the detail pane shows: {type, id}

  function detail(children, focus) {
    var box = Y.clear(el.detail);
    Y.append(box, children);
    if (focus !== false) {
      var heading = box.querySelector('h2');
      if (heading) { heading.setAttribute('tabindex', '-1'); heading.focus({ preventScroll: true }); }
    }
    box.scrollTop = 0;
    return box;
  }
  function loading(text) { detail(h('p', { class: 'hint', role: 'status', text: text || '正在加载…' }), false); }
  function failed(err) { detail(h('p', { class: 'error', role: 'alert', text: err.message || '加载失败。' }), false); }

  function copyButton(getText, label) {
    var status = h('span', { class: 'copy-status', role: 'status', 'aria-live': 'polite' });
    var btn = h('button', { type: 'button', class: 'btn btn-copy', text: label || '复制短信' });
    var clearer = null;
    btn.addEventListener('click', function () {
      status.textContent = '';
      Promise.resolve().then(getText).then(Y.copyText).then(function () {
        status.textContent = '已复制';
        status.className = 'copy-status ok';
        clearTimeout(clearer);
        clearer = setTimeout(function () { status.textContent = ''; }, 6000);
      }, function (err) {
        status.textContent = (err && err.message) || '复制失败，请手动选择文字复制。';
        status.className = 'copy-status error';
      });
    });
    return h('span', { class: 'copy' }, btn, status);
  }

  function markCurrent(attr, value) { // highlight the result that the detail pane shows
    el.results.querySelectorAll('.result').forEach(function (b) {
      if (b.getAttribute(attr) === value) b.setAttribute('aria-current', 'true'); else b.removeAttribute('aria-current');
    });
  }

  function openScenario(id) {
    current = { type: 'scenario', id: id };
    markCurrent('data-scenario', id);
    loading('正在加载指南…');
    return authed('GET', '/api/v1/scenarios/' + encodeURIComponent(id) + '?region=' + encodeURIComponent(region())).then(renderGuide, failed);
  }

  function renderGuide(g) {
    var parts = [h('h2', { class: 'guide-title', text: g.name })];
    parts.push(h('p', { class: 'meta', text: [g.region_name, g.lead_department && '牵头部门：' + g.lead_department,
      (g.publishers || []).length && '发布地区：' + g.publishers.map(function (p) { return p.name; }).join('、')].filter(Boolean).join(' · ') }));
    if (g.description) parts.push(h('p', { class: 'desc', text: g.description }));
    if (!g.published) {
      parts.push(h('div', { class: 'notice', role: 'note' },
        h('p', { text: g.region_name + '未发布此一件事。可切换到发布地区查看：' }),
        (g.publishers || []).map(function (p) {
          return h('button', { type: 'button', class: 'btn btn-ghost', text: p.name, onclick: function () {
            el.region.value = p.id;
            el.region.dispatchEvent(new Event('change'));
          } });
        })));
      detail(parts);
      return;
    }
    parts.push(h('div', { class: 'actions' },
      copyButton(function () { return g.sms_text; }, '复制短信'),
      h('button', { type: 'button', class: 'btn btn-ghost', text: '按来电人情况问答', onclick: function () { startSession(g.id); } })));
    parts.push(h('details', { class: 'sms-preview' }, h('summary', { text: '短信内容预览（' + g.sms_text.length + ' 字）' }),
      h('p', { class: 'sms-text', text: g.sms_text })));
    if (g.questions && g.questions.length) {
      parts.push(h('h3', { text: '需问清的情形（' + g.questions.length + ' 个）' }));
      parts.push(h('ol', { class: 'questions' }, g.questions.map(function (q) {
        return h('li', { 'data-question': q.id },
          h('strong', { text: q.text }),
          q.asked_when ? h('p', { class: 'yc-sub', text: '仅当：' + q.asked_when + ' 时询问' }) : null,
          q.help ? h('p', { class: 'yc-sub', text: q.help }) : null,
          h('div', { class: 'chips' }, q.options.map(function (o) { return h('span', { class: 'chip', text: o.label }); })));
      })));
    }
    if (g.checklist) parts.push(Y.renderChecklist(g.checklist, { guide: true, headingLevel: 'h3' }));
    detail(parts);
  }

  function matterPath(key) { return key.split('/').map(encodeURIComponent).join('/'); }

  function openMatter(key) {
    current = { type: 'matter', id: key };
    markCurrent('data-matter', key);
    loading('正在加载事项…');
    return authed('GET', '/api/v1/matters/' + matterPath(key) + '?region=' + encodeURIComponent(region())).then(renderMatter, failed);
  }

  function scenarioLink(id, label) {
    return h('button', { type: 'button', class: 'linkbtn', text: label, onclick: function () { openScenario(id); } });
  }

  function renderMatter(m) {
    var parts = [h('h2', { text: m.name })];
    if (m.kind === 'lifecycle') {
      parts.push(h('p', { class: 'meta', text: '全生命周期事项清单' + (m.certainty && m.certainty !== 'confirmed' ? ' · 待确认' : '') }));
      var deps = Object.keys(m.departments || {}).map(function (level) {
        var d = m.departments[level] || {};
        return h('div', { text: ({ city: '市级', district: '区县级', province: '省级' }[level] || level) + '：' +
          [d.lead, (d.cooperating || []).length ? '配合：' + d.cooperating.join('、') : ''].filter(Boolean).join('；') });
      });
      parts.push(Y.dl([['阶段', m.stage], ['场景', m.scene], ['事项类型', m.type], ['办理部门', deps],
        ['列入清单的地区', (m.listed_in || []).join('、')], ['说明', m.note]]));
      if (m.in_scenarios && m.in_scenarios.length) {
        parts.push(h('h3', { text: '包含此事项的一件事' }));
        parts.push(h('ul', null, m.in_scenarios.map(function (s) {
          return h('li', null, scenarioLink(s.scenario, s.name), ' ', Y.badge(s.published ? '本地已发布' : '本地未发布', s.published ? 'exempt' : 'unsure'));
        })));
      }
    } else if (!m.published) {
      parts.push(h('div', { class: 'notice', role: 'note', text: '本地区未发布该事项所属的一件事' +
        ((m.publishers || []).length ? '（发布地区：' + m.publishers.join('、') + '）' : '') + '。' }));
      if (m.scenario) parts.push(h('p', null, scenarioLink(m.scenario, '查看所属一件事')));
    } else {
      parts.push(h('p', { class: 'meta' }, '属于：', scenarioLink(m.scenario, m.scenario_name || m.scenario)));
      var names = {};
      names[m.sub_matter.id] = m.sub_matter.name;
      parts.push(h('ul', { class: 'yc-list yc-subs' }, Y.subMatterItem(m.sub_matter, {})));
      parts.push(h('h3', { text: '所需材料（' + (m.materials || []).length + ' 项）' }));
      parts.push(h('ol', { class: 'yc-list yc-mats' }, (m.materials || []).map(function (x) { return Y.materialItem(x, names); })));
      if (m.sources && m.sources.length) parts.push(Y.sourcesList(m.sources));
    }
    detail(parts);
  }

  // ------------------------------------------------------------------ questionnaire for the caller
  var session = null; // {id, last, log: [{who, text}]}

  el.start.addEventListener('click', function () { startSession(null); });

  function sessionCall(method, suffix, body, opts) {
    return Y.api(method, '/api/v1/sessions/' + encodeURIComponent(session.id) + suffix, body, opts);
  }

  function startSession(scenarioId) {
    current = { type: 'session' };
    loading('正在开始问答…');
    return Y.api('POST', '/api/v1/sessions', { region: region(), channel: 'hotline' }).then(function (rep) {
      session = { id: rep.session_id, last: rep, log: [] };
      store(SESSION, rep.session_id);
      if (!scenarioId) { renderSession(rep, true); return; }
      return sessionCall('POST', '/messages', { option: 'scenario:' + scenarioId }).then(function (next) { renderSession(next, true); });
    }).catch(failed);
  }

  function resumeSession(id) {
    session = { id: id, last: null, log: [] };
    current = { type: 'session' };
    sessionCall('GET', '').then(function (rep) { renderSession(rep, false); }, function () { store(SESSION, null); session = null; });
  }

  function say(payload, shown) {
    if (!session || session.busy) return;
    session.busy = true;
    session.log.push({ who: 'a', text: shown });
    sessionCall('POST', '/messages', payload).then(function (rep) {
      session.busy = false;
      renderSession(rep, true);
    }, function (err) {
      session.busy = false;
      if (err.code === 'session_not_found') { store(SESSION, null); session = null; }
      failedInline(err);
    });
  }
  function failedInline(err) {
    var box = el.detail.querySelector('.session-error');
    if (box) box.textContent = err.message; else failed(err);
  }

  function renderSession(rep, focus, quiet) {
    session.last = rep;
    if (rep.reply && !quiet) session.log.push({ who: 'q', text: rep.reply });
    var parts = [h('h2', { text: '代来电人问答' + (rep.scenario_name ? '：' + rep.scenario_name : '') })];
    parts.push(h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'btn btn-ghost', text: '重新开始', onclick: function () { session.log = []; say({ option: 'cmd:restart' }, '重新开始'); } }),
      h('button', { type: 'button', class: 'btn btn-ghost', text: '结束问答', onclick: function () {
        store(SESSION, null); session = null; current = null;
        detail(h('p', { class: 'hint', role: 'status', text: '问答已结束。' }));
      } })));
    var history = session.log.slice(-13);
    var tail = history[history.length - 1];
    if (tail && tail.who === 'q' && tail.text === rep.reply) history.pop(); // shown below as the current reply
    if (history.length) {
      parts.push(h('details', { class: 'qa-log' }, h('summary', { text: '问答记录（' + history.length + '）' }),
        h('ol', null, history.map(function (m) { return h('li', { class: 'qa-' + m.who, text: (m.who === 'q' ? '问：' : '答：') + m.text }); }))));
    }
    parts.push(h('div', { class: 'reply', 'aria-live': 'polite', text: rep.reply || '' }));
    parts.push(h('p', { class: 'session-error error', role: 'alert' }));
    var options = (rep.options || []).filter(function (o) {
      // toggles and the summary are in the checklist card; restart is in the header row
      return o.value !== 'cmd:restart' && !(rep.checklist && (o.value.indexOf('toggle:') === 0 || o.value === 'cmd:summary'));
    });
    if (options.length) {
      parts.push(h('div', { class: 'options', role: 'group', 'aria-label': rep.question ? rep.question.text : '可选操作' }, options.map(function (o) {
        return h('button', { type: 'button', class: 'opt' + (o.value.indexOf('cmd:') === 0 ? ' opt-cmd' : ''), 'data-value': o.value, text: o.label,
          onclick: function () { say({ option: o.value }, o.label); } });
      })));
    }
    var input = h('input', { type: 'text', class: 'say-input', maxlength: '500', autocomplete: 'off', 'aria-label': '记录来电人的原话',
      placeholder: '记录来电人的原话，如“父母都是本地户口”' });
    parts.push(h('form', { class: 'say', onsubmit: function (ev) {
      ev.preventDefault();
      var t = input.value.trim();
      if (t) say({ text: t }, t);
    } }, input, h('button', { type: 'submit', class: 'btn', text: '发送' })));
    if (rep.answer_summary && rep.answer_summary.length) {
      parts.push(h('h3', { text: '已问清的情况' }));
      parts.push(h('table', { class: 'answers' }, h('tbody', null, rep.answer_summary.map(function (a) {
        return h('tr', null, h('th', { scope: 'row', text: a.question }), h('td', { text: a.answer }),
          h('td', null, h('button', { type: 'button', class: 'linkbtn', 'data-change': a.question_id, 'aria-label': '修改：' + a.question, text: '修改',
            onclick: function () { say({ option: 'cmd:change:' + a.question_id }, '修改：' + a.question); } })));
      }))));
    }
    if (rep.checklist) {
      var sid = encodeURIComponent(session.id);
      parts.push(h('div', { class: 'actions' },
        copyButton(function () { return sessionCall('GET', '/checklist?format=text', null, { raw: true }); }, '复制短信'),
        h('a', { class: 'btn btn-ghost', href: '/api/v1/sessions/' + sid + '/checklist?format=html', target: '_blank', rel: 'noopener', text: '打印清单' })));
      parts.push(Y.renderChecklist(rep.checklist, { headingLevel: 'h3', onToggle: toggle }));
    }
    detail(parts, focus);
    if (focus) {
      var first = el.detail.querySelector('.options .opt');
      if (first && !rep.checklist) first.focus({ preventScroll: true });
    }
  }

  function toggle(id, on, box) {
    var change = {};
    change[id] = on;
    box.disabled = true;
    sessionCall('PATCH', '/selection', change).then(function (cl) {
      var rep = Object.assign({}, session.last, { checklist: cl });
      session.log.push({ who: 'a', text: (on ? '加入：' : '取消：') + (cl.sub_matters.filter(function (m) { return m.id === id; })[0] || {}).name });
      renderSession(rep, false, true);
      var again = el.detail.querySelector('input[data-sub="' + id + '"]');
      if (again) again.focus();
    }, function (err) {
      box.disabled = false;
      box.checked = !on;
      failedInline(err);
    });
  }

  // ------------------------------------------------------------------ start
  if (token) {
    Y.api('POST', '/api/v1/auth/check', null, { token: token }).then(showApp, function (err) { showLogin(err.message); });
  } else {
    showLogin('');
  }
})();
