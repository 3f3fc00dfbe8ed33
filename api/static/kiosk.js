/*
 * 政务大厅自助终端：触屏大按钮，语音输入（浏览器支持时），朗读回复，打印清单，
 * 无人操作一段时间后自动回到首页并清除内容（?idle=秒 可调，默认 90 秒）。
 * The kiosk is shared by strangers, so nothing is kept across a reset or a reload.
 */
(function () {
  'use strict';
  var Y = window.Yici, h = Y.h;
  function $(id) { return document.getElementById(id); }
  var body = document.body;
  var params = new URLSearchParams(location.search);
  var REGION = body.getAttribute('data-region');
  var IDLE = Math.max(2, parseFloat(params.get('idle')) || parseFloat(body.getAttribute('data-idle')) || 90);
  var WARN = Math.min(20, Math.ceil(IDLE / 2)); // the last seconds show a visible countdown
  var el = {
    start: $('k-start'), chat: $('k-chat'), scenarios: $('k-scenarios'), title: $('k-title'), reply: $('k-reply'),
    error: $('k-error'), options: $('k-options'), checklist: $('k-checklist'), summary: $('k-summary'),
    form: $('k-form'), text: $('k-text'), mic: $('k-mic'), voice: $('k-voice'), home: $('k-home'), sound: $('k-sound'),
    idle: $('k-idle'), countdown: $('k-countdown'), cont: $('k-continue'), main: $('k-main')
  };
  var session = null, busy = false, last = Date.now(), soundOn = true;
  var generation = 0; // bumped by every reset: answers to requests sent before it are dropped

  // ------------------------------------------------------------------ speech out
  var synth = window.speechSynthesis;
  if (!synth || typeof window.SpeechSynthesisUtterance !== 'function') el.sound.hidden = true;
  function speak(text) {
    if (!synth || !soundOn || !text) return;
    try {
      synth.cancel();
      var u = new SpeechSynthesisUtterance(text);
      u.lang = 'zh-CN';
      var voice = (synth.getVoices() || []).filter(function (v) { return /^zh(-|_)?(CN|Hans)?/i.test(v.lang); })[0];
      if (voice) u.voice = voice;
      synth.speak(u);
    } catch (e) { /* no voice installed: the text is on screen anyway */ }
  }
  function hush() { if (synth) { try { synth.cancel(); } catch (e) { /* ignore */ } } }
  el.sound.addEventListener('click', function () {
    soundOn = !soundOn;
    el.sound.setAttribute('aria-pressed', soundOn ? 'true' : 'false');
    el.sound.textContent = soundOn ? '朗读：开' : '朗读：关';
    if (!soundOn) hush();
  });

  // ------------------------------------------------------------------ speech in
  var Recognition = window.SpeechRecognition || window.webkitSpeechRecognition;
  var rec = null;
  if (!Recognition || params.get('voice') === '0') el.mic.hidden = true;
  var VOICE_ERRORS = {
    'not-allowed': '无法使用麦克风，请直接输入文字。', 'service-not-allowed': '语音识别暂不可用，请直接输入文字。',
    'network': '语音识别暂不可用，请直接输入文字。', 'no-speech': '没有听到声音，请再按一下说话。',
    'audio-capture': '没有检测到麦克风，请直接输入文字。', 'aborted': ''
  };
  function micState(on) {
    el.mic.setAttribute('aria-pressed', on ? 'true' : 'false');
    el.mic.querySelector('span').textContent = on ? '正在听…再按停止' : '按一下说话';
  }
  el.mic.addEventListener('click', function () {
    if (rec) { rec.stop(); return; }
    hush();
    try { rec = new Recognition(); } catch (e) { el.mic.hidden = true; return; }
    rec.lang = 'zh-CN';
    rec.interimResults = true;
    rec.maxAlternatives = 1;
    var final = '';
    rec.onresult = function (ev) {
      last = Date.now();
      var interim = '';
      for (var i = ev.resultIndex; i < ev.results.length; i++) {
        if (ev.results[i].isFinal) final += ev.results[i][0].transcript; else interim += ev.results[i][0].transcript;
      }
      el.text.value = final + interim;
    };
    rec.onerror = function (ev) {
      var msg = VOICE_ERRORS[ev.error];
      el.voice.textContent = msg === undefined ? '语音识别出错，请直接输入文字。' : msg;
      if (ev.error === 'not-allowed' || ev.error === 'service-not-allowed' || ev.error === 'audio-capture') el.mic.hidden = true;
    };
    rec.onend = function () {
      rec = null;
      micState(false);
      if (final.trim()) { el.text.value = final.trim(); submitText(); }
    };
    try {
      rec.start();
      micState(true);
      el.voice.textContent = '请说出您要办的事…';
    } catch (e) { rec = null; el.voice.textContent = '语音识别暂不可用，请直接输入文字。'; }
  });
  function stopListening() { if (rec) { try { rec.abort(); } catch (e) { /* ignore */ } rec = null; micState(false); } }

  // ------------------------------------------------------------------ start screen
  function loadScenarios() {
    if (!REGION) return;
    Y.api('GET', '/api/v1/regions/' + encodeURIComponent(REGION) + '/scenarios').then(function (list) {
      Y.clear(el.scenarios);
      list.forEach(function (s) {
        el.scenarios.appendChild(h('button', { type: 'button', class: 'k-scenario', 'data-scenario': s.id,
          onclick: function () { begin({ option: 'scenario:' + s.id }); } },
          h('strong', { text: s.name }), h('span', { text: s.title })));
      });
      if (!list.length) el.scenarios.appendChild(h('p', { class: 'k-lead', text: '本地区暂未发布“一件事”，请咨询窗口工作人员。' }));
    }, function (err) {
      el.scenarios.appendChild(h('p', { class: 'k-error', role: 'alert', text: err.message }));
    });
  }

  function showChat() {
    el.start.hidden = true;
    el.chat.hidden = false;
    el.home.hidden = false;
  }

  function begin(payload) {
    if (busy) return;
    busy = true;
    el.error.textContent = '';
    var gen = generation;
    Y.api('POST', '/api/v1/sessions', { region: REGION, channel: 'kiosk' }).then(function (rep) {
      if (gen !== generation) return;
      session = rep.session_id;
      busy = false;
      showChat();
      send(payload);
    }, function (err) {
      if (gen !== generation) return;
      busy = false;
      el.voice.textContent = err.message;
    });
  }

  // ------------------------------------------------------------------ conversation
  function send(payload) {
    if (busy || !session) return;
    busy = true;
    el.error.textContent = '';
    el.main.setAttribute('aria-busy', 'true');
    var gen = generation;
    Y.api('POST', '/api/v1/sessions/' + encodeURIComponent(session) + '/messages', payload).then(function (rep) {
      if (gen !== generation) return;
      busy = false;
      el.main.setAttribute('aria-busy', 'false');
      render(rep);
    }, function (err) {
      if (gen !== generation) return;
      busy = false;
      el.main.setAttribute('aria-busy', 'false');
      if (err.code === 'session_not_found') { reset(); return; }
      el.error.textContent = err.message;
    });
  }

  function submitText() {
    var t = el.text.value.trim();
    if (!t) return;
    el.text.value = '';
    el.voice.textContent = '';
    if (session) send({ text: t }); else begin({ text: t });
  }
  el.form.addEventListener('submit', function (ev) { ev.preventDefault(); submitText(); });

  function optionButton(o) {
    var cmd = o.value.indexOf('cmd:') === 0;
    return h('button', { type: 'button', class: 'k-option' + (cmd ? ' k-option-cmd' : ''), 'data-value': o.value, text: o.label,
      onclick: function () {
        if (o.value === 'cmd:restart') { reset(); return; } // on a shared terminal "restart" means a clean start
        send({ option: o.value });
      } });
  }

  function render(rep) {
    el.title.textContent = rep.scenario_name || '';
    el.reply.textContent = rep.reply || '';
    Y.clear(el.options);
    Y.clear(el.checklist);
    Y.clear(el.summary);
    var options = (rep.options || []).filter(function (o) {
      return !(rep.checklist && (o.value.indexOf('toggle:') === 0 || o.value === 'cmd:summary'));
    });
    options.forEach(function (o) { el.options.appendChild(optionButton(o)); });
    if (rep.answer_summary && rep.answer_summary.length) renderSummary(rep.answer_summary);
    if (rep.checklist) {
      renderChecklist(rep.checklist);
      speakChecklist();
    } else {
      speak(rep.reply);
    }
    el.main.scrollTop = 0;
    var first = el.options.querySelector('.k-option');
    (rep.checklist ? el.checklist.querySelector('.yc-cl-title') : first || el.reply).focus({ preventScroll: true });
  }

  function renderSummary(summary) {
    el.summary.appendChild(h('details', { class: 'k-answers' }, h('summary', { text: '我的回答（' + summary.length + '项，可修改）' }),
      h('ul', null, summary.map(function (a) {
        return h('li', null, h('span', null, a.question + ' ', h('strong', { text: a.answer })),
          h('button', { type: 'button', class: 'k-change', 'data-change': a.question_id, 'aria-label': '修改：' + a.question, text: '修改',
            onclick: function () { send({ option: 'cmd:change:' + a.question_id }); } }));
      }))));
  }

  function renderChecklist(cl) {
    var status = h('p', { class: 'k-status', role: 'status' });
    el.checklist.appendChild(h('div', { class: 'k-actions' },
      h('button', { type: 'button', class: 'k-big', id: 'k-print-btn', text: '打印清单', onclick: function () { printChecklist(status); } }),
      h('button', { type: 'button', class: 'k-big k-ghost', text: '朗读清单', onclick: speakChecklist }),
      h('button', { type: 'button', class: 'k-big k-ghost', text: '办完了，返回首页', onclick: reset })));
    el.checklist.appendChild(status);
    el.checklist.appendChild(Y.renderChecklist(cl, { brief: true, headingLevel: 'h2', onToggle: toggle }));
    el.checklist.appendChild(rating());
  }

  function speakChecklist() {
    if (!soundOn || !synth) return;
    var gen = generation;
    Y.api('GET', '/api/v1/sessions/' + encodeURIComponent(session) + '/checklist?format=speech', null, { raw: true })
      .then(function (text) { if (gen === generation) speak(text); }, function () { speak(el.reply.textContent); });
  }

  function toggle(id, on, box) {
    box.disabled = true;
    var change = {};
    change[id] = on;
    Y.api('PATCH', '/api/v1/sessions/' + encodeURIComponent(session) + '/selection', change).then(function (cl) {
      Y.clear(el.checklist);
      renderChecklist(cl);
      var again = el.checklist.querySelector('input[data-sub="' + id + '"]');
      if (again) again.focus({ preventScroll: true });
    }, function (err) {
      box.disabled = false;
      box.checked = !on;
      el.error.textContent = err.message;
    });
  }

  function printChecklist(status) {
    var url = '/api/v1/sessions/' + encodeURIComponent(session) + '/checklist?format=html';
    var frame = $('k-print-frame');
    if (!frame) { // print the A4 page without leaving the kiosk screen
      frame = h('iframe', { id: 'k-print-frame', class: 'k-print-frame', title: '打印用清单', 'aria-hidden': 'true', tabindex: '-1' });
      body.appendChild(frame);
    }
    status.textContent = '正在准备打印…';
    frame.onload = function () {
      try {
        frame.contentWindow.focus();
        frame.contentWindow.print();
        status.textContent = '已发送打印，请在出纸口取清单。';
      } catch (e) {
        window.open(url, '_blank');
        status.textContent = '已打开打印页面。';
      }
    };
    frame.src = url;
  }

  var LEVELS = [[5, '非常满意'], [4, '满意'], [3, '基本满意'], [2, '不满意'], [1, '非常不满意']];
  function rating() {
    var box = h('div', { class: 'k-rate', role: 'group', 'aria-labelledby': 'k-rate-title' },
      h('h2', { id: 'k-rate-title', text: '请为本次服务评价' }));
    var row = h('div', { class: 'k-rate-row' }, LEVELS.map(function (l) {
      return h('button', { type: 'button', class: 'k-rate-btn', 'data-rating': l[0], text: l[1], onclick: function () {
        row.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
        Y.api('POST', '/api/v1/sessions/' + encodeURIComponent(session) + '/feedback', { rating: l[0], comment: '' }).then(function (r) {
          Y.clear(box).appendChild(h('p', { class: 'k-status', role: 'status', text: (r && r.message) || '感谢您的评价！' }));
        }, function (err) {
          row.querySelectorAll('button').forEach(function (b) { b.disabled = false; });
          el.error.textContent = err.message;
        });
      } });
    }));
    box.appendChild(row);
    return box;
  }

  // ------------------------------------------------------------------ reset and idle
  function reset() {
    generation++;
    hush();
    stopListening();
    session = null;
    busy = false;
    el.text.value = '';
    el.voice.textContent = '';
    el.error.textContent = '';
    el.title.textContent = '';
    el.reply.textContent = '';
    Y.clear(el.options);
    Y.clear(el.checklist);
    Y.clear(el.summary);
    var frame = $('k-print-frame');
    if (frame) frame.remove();
    el.chat.hidden = true;
    el.home.hidden = true;
    el.start.hidden = false;
    el.idle.hidden = true;
    el.main.scrollTop = 0;
    last = Date.now();
    var heading = $('k-start-title');
    heading.setAttribute('tabindex', '-1');
    heading.focus({ preventScroll: true });
  }
  el.home.addEventListener('click', reset);

  function touched() {
    last = Date.now();
    if (!el.idle.hidden) el.idle.hidden = true;
  }
  ['pointerdown', 'touchstart', 'keydown', 'input', 'wheel'].forEach(function (type) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  });
  el.cont.addEventListener('click', function () { touched(); el.text.focus({ preventScroll: true }); });

  setInterval(function () {
    var idleStart = !el.start.hidden && !el.text.value;
    // not while listening; speaking does not count, a stuck voice must not keep old answers on screen
    if (idleStart || rec || busy) { last = Date.now(); if (!el.idle.hidden) el.idle.hidden = true; return; }
    var left = IDLE - (Date.now() - last) / 1000;
    if (left <= 0) { reset(); return; }
    if (left <= WARN) {
      el.countdown.textContent = String(Math.ceil(left));
      if (el.idle.hidden) { el.idle.hidden = false; el.cont.focus({ preventScroll: true }); }
    }
  }, 250);

  loadScenarios();
})();
