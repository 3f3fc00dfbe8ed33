/*
 * Shared by the hotline console and the kiosk (the citizen widget carries its own copy so that
 * it stays one self-contained file): DOM building that only ever inserts text, the API client
 * with Chinese error messages, clipboard, and the checklist renderer.
 */
(function () {
  'use strict';

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
  function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }
  function safeUrl(url) {
    try {
      var u = new URL(url, location.href);
      return (u.protocol === 'http:' || u.protocol === 'https:') ? u.href : null;
    } catch (e) { return null; }
  }

  function ApiError(status, code, message) { this.status = status; this.code = code; this.message = message; }

  /** fetch JSON (or text with opts.raw); errors become ApiError with the API's Chinese message. */
  function api(method, path, body, opts) {
    opts = opts || {};
    var headers = { Accept: opts.raw ? 'text/plain' : 'application/json' };
    if (opts.token) headers.Authorization = 'Bearer ' + opts.token;
    var init = { method: method, headers: headers, signal: opts.signal };
    if (body !== undefined && body !== null) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (r) {
      if (r.ok) return opts.raw ? r.text() : r.json();
      var json = (r.headers.get('content-type') || '').indexOf('json') >= 0;
      return (json ? r.json() : Promise.resolve({})).then(function (data) {
        var e = (data && data.error) || {};
        throw new ApiError(r.status, e.code || 'http_' + r.status, e.message || '服务暂时不可用（' + r.status + '），请稍后再试。');
      });
    }, function (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network', '网络连接失败，请检查网络后重试。');
    });
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () { return legacyCopy(text); });
    }
    return legacyCopy(text);
  }
  function legacyCopy(text) { // plain-http deployments have no async clipboard
    return new Promise(function (resolve, reject) {
      var ta = h('textarea', { readonly: true, style: 'position:fixed;left:-9999px;top:0' });
      ta.value = text;
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
      ta.remove();
      if (ok) resolve(); else reject(new ApiError(0, 'copy', '复制失败，请手动选择文字复制。'));
    });
  }

  function badge(text, kind) { return h('span', { class: 'yc-badge' + (kind ? ' yc-b-' + kind : ''), text: text }); }

  function timeText(tl) {
    tl = tl || {};
    return [tl.statutory && '法定：' + tl.statutory, tl.promised && '承诺：' + tl.promised].filter(Boolean).join('；');
  }
  function placeText(p) {
    return [p.name, p.address, p.hours && '时间：' + p.hours, p.phone && '电话：' + p.phone].filter(Boolean).join('，');
  }

  function dl(rows) {
    var el = h('dl', { class: 'yc-dl' });
    rows.forEach(function (r) {
      if (!r[1] || (Array.isArray(r[1]) && !r[1].length)) return;
      el.appendChild(h('dt', { text: r[0] }));
      el.appendChild(h('dd', null, r[1]));
    });
    return el;
  }

  function subMatterItem(m, opts) {
    var line = h('div', { class: 'yc-line' }, h('span', { class: 'yc-name', text: m.name }),
      badge(m.mandatory ? '必办' : '可选', m.mandatory ? 'must' : 'opt'),
      !m.applies ? badge('视情况', 'cond') : null,
      (m.uncertain && m.uncertain.length) ? badge('待确认', 'unsure') : null);
    if (!m.mandatory && opts.onToggle) {
      var box = h('input', { type: 'checkbox', 'data-sub': m.id, id: 'yc-sub-' + m.id });
      box.checked = !!m.selected;
      box.addEventListener('change', function () { opts.onToggle(m.id, box.checked, box); });
      line.appendChild(h('label', { class: 'yc-toggle', for: 'yc-sub-' + m.id }, box, h('span', { text: '一并办理' })));
    }
    var show = m.selected || !opts.onToggle;
    return h('li', { class: 'yc-item yc-submatter' + (show ? '' : ' yc-off'), 'data-id': m.id },
      line,
      m.condition ? h('p', { class: 'yc-sub', text: '适用情形：' + m.condition }) : null,
      show ? dl([
        ['办理部门', m.department],
        ['办理时限', timeText(m.time_limit)],
        ['收费', m.fee],
        ['办理地点', (m.places || []).map(function (p) { return h('div', { text: placeText(p) }); })],
        ['办理方式', (m.channels || []).join('、') + ((m.channels || []).length ? '；' : '') + (m.in_person ? '需本人到现场' : '可不到现场')],
        ['办理结果', m.result],
        ['待确认', (m.uncertain || []).map(function (u) { return h('div', { text: u }); })]
      ].filter(function (r) { return !opts.brief || ['办理部门', '办理时限', '收费', '办理地点'].indexOf(r[0]) >= 0; }))
        : h('p', { class: 'yc-sub', text: '未选择办理' }));
  }

  function materialItem(m, names) {
    var ids = m.needed_by || [];
    var used = ids.filter(function (id) { return names[id]; }).map(function (id) { return names[id]; });
    var others = ids.length - used.length; // a single-matter guide only knows its own sub-matter's name
    return h('li', { class: 'yc-item yc-material' + (m.exempt ? ' yc-exempt' : ''), 'data-id': m.id },
      h('div', { class: 'yc-line' }, h('span', { class: 'yc-name', text: m.name }),
        m.form ? badge(m.form) : null,
        m.copies > 1 ? badge(m.copies + ' 份') : null,
        m.exempt ? badge('免提交', 'exempt') : null,
        (m.tolerance && m.tolerance.length) ? badge('容缺', 'tol') : null,
        m.condition ? badge('视情况', 'cond') : null,
        ids.length > 1 ? badge(ids.length + ' 个事项共用', 'shared') : null,
        m.uncertain ? badge('待确认', 'unsure') : null),
      h('p', { class: 'yc-sub yc-usedby', text: '用于：' + used.join('、') + (others ? '；同一件事中另有 ' + others + ' 个事项也需要' : '') }),
      m.exempt ? h('p', { class: 'yc-sub', text: '免提交：' + (m.exempt_source || '部门间数据共享，无需提交') }) : null,
      (m.tolerance || []).map(function (t) { return h('p', { class: 'yc-sub', text: '容缺受理：' + t }); }),
      m.condition ? h('p', { class: 'yc-sub', text: '需要时：' + m.condition }) : null,
      (m.holders && m.holders.length) ? h('p', { class: 'yc-sub', text: '材料所属：' + m.holders.join('、') }) : null,
      m.note ? h('p', { class: 'yc-sub', text: '说明：' + m.note }) : null);
  }

  /**
   * The checklist (a session's, or a guide's with every case). opts: onToggle(id, on, box) makes
   * optional sub-matters switchable; brief shows fewer fields (kiosk); guide labels it as a guide.
   */
  function renderChecklist(cl, opts) {
    opts = opts || {};
    var names = {};
    cl.sub_matters.forEach(function (m) { names[m.id] = m.name; });
    var chosen = cl.sub_matters.filter(function (m) { return m.selected; });
    var toSubmit = cl.materials.filter(function (m) { return !m.exempt; });
    var headingId = 'yc-cl-' + Math.random().toString(36).slice(2, 8);
    var card = h('section', { class: 'yc-checklist', 'aria-labelledby': headingId, 'data-scenario': cl.scenario },
      h(opts.headingLevel || 'h2', { id: headingId, tabindex: '-1', class: 'yc-cl-title',
        text: (opts.guide ? '办事指南：' : '一次告知清单：') + (cl.scenario_name || '') }),
      h('p', { class: 'yc-meta', text: [cl.region_name, '日期 ' + cl.date, '知识版本 ' + cl.knowledge_version].join(' · ') }),
      h('p', { class: 'yc-stats', text: opts.guide
        ? '共 ' + cl.sub_matters.length + ' 个事项 · 材料 ' + cl.materials.length + ' 项（含视情况需要的）'
        : '办理 ' + chosen.length + ' 个事项 · 需提交 ' + toSubmit.length + ' 项材料' +
          (cl.materials.length > toSubmit.length ? '（另有 ' + (cl.materials.length - toSubmit.length) + ' 项免提交）' : '') }));
    card.appendChild(h('h3', { text: '办理事项' }));
    card.appendChild(h('ul', { class: 'yc-list yc-subs' }, cl.sub_matters.map(function (m) { return subMatterItem(m, opts); })));
    card.appendChild(h('h3', { text: '需准备的材料（已合并）' }));
    card.appendChild(cl.materials.length ? h('ol', { class: 'yc-list yc-mats' }, cl.materials.map(function (m) { return materialItem(m, names); }))
      : h('p', { class: 'yc-sub', text: '无需提交材料。' }));
    if (cl.steps && cl.steps.length) {
      card.appendChild(h('h3', { text: '办理顺序' }));
      card.appendChild(h('ol', { class: 'yc-steps' }, cl.steps.map(function (s) {
        var after = (s.after || []).map(function (id) { return names[id] || id; });
        return h('li', null, h('span', { text: s.name }),
          after.length ? h('span', { class: 'yc-sub', text: '（在“' + after.join('”“') + '”之后）' }) : null, ' ',
          badge(s.in_person ? '需到现场' : '可不到现场'));
      })));
    }
    if (cl.uncertain && cl.uncertain.length && !opts.brief) {
      card.appendChild(h('details', { class: 'yc-details' },
        h('summary', null, '待确认事项 ', badge(String(cl.uncertain.length), 'unsure')),
        h('ul', null, cl.uncertain.map(function (u) { return h('li', { text: u }); }))));
    }
    if (cl.sources && cl.sources.length && !opts.brief) {
      card.appendChild(sourcesList(cl.sources));
    }
    return card;
  }

  function sourcesList(sources) {
    return h('details', { class: 'yc-details' },
      h('summary', { text: '政策依据与资料来源（' + sources.length + '）' }),
      h('ul', null, sources.map(function (s) {
        var label = [s.title, s.publisher, s.region, s.date].filter(Boolean).join(' · ');
        var href = s.url && safeUrl(s.url);
        return h('li', null, href ? h('a', { href: href, target: '_blank', rel: 'noopener noreferrer', text: label }) : label);
      })));
  }

  window.Yici = {
    h: h, append: append, clear: clear, api: api, ApiError: ApiError, copyText: copyText, safeUrl: safeUrl,
    badge: badge, dl: dl, timeText: timeText, placeText: placeText, renderChecklist: renderChecklist,
    subMatterItem: subMatterItem, materialItem: materialItem, sourcesList: sourcesList
  };
})();
