// aelm report: draws the timeline, the culprits table and the flame graph
// from the JSON data in #aelm-data. No dependencies, no network.
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("aelm-data").textContent);
  var $ = function (id) { return document.getElementById(id); };
  var B = D.b, N = B.lane.length;
  var culs = D.culprits, more = D.culprits_more || [];
  var MINW = 3;   // px: the narrowest bar
  var GAP = 1;    // px: bars closer than this are merged...
  var MAXW = 8;   // px: ...into bars that start within this many pixels
  var ROWS = 500; // culprits table rows shown

  // ---------------------------------------------------------------- helpers
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) for (var k in attrs) {
      if (attrs[k] === null || attrs[k] === undefined || attrs[k] === false) continue;
      if (k === "class") e.className = attrs[k]; else e.setAttribute(k, attrs[k]);
    }
    if (kids !== undefined) add(e, kids);
    return e;
  }
  function add(e, kids) {
    if (!Array.isArray(kids)) kids = [kids];
    kids.forEach(function (k) {
      if (k === null || k === undefined) return;
      e.appendChild(typeof k === "object" ? k : document.createTextNode(String(k)));
    });
    return e;
  }
  function code(r) {
    var s = "";
    for (;;) { s = String.fromCharCode(65 + (r % 26)) + s; if (r < 26) break; r = Math.floor(r / 26) - 1; }
    return s;
  }
  function culCls(r) { return "c" + (r % 8) + " p" + ((r + Math.floor(r / 8)) % 8); }
  function culName(r) { return r < culs.length ? culs[r].name : (more[r - culs.length] || ["?"])[0]; }
  function culFile(r) { return r < culs.length ? culs[r].file : D.files[(more[r - culs.length] || ["", -1])[1]] || ""; }
  function fmtMs(ms) {
    var s = ms / 1000;
    if (s >= 3600) return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m " + Math.round(s % 60) + "s";
    if (ms >= 60000) return Math.floor(s / 60) + "m " + (s % 60).toFixed(1) + "s";
    if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
    return ms.toFixed(1) + " ms";
  }
  function fmtPct(x) {
    if (x === null || x === undefined) return "n/a";
    var p = x * 100;
    return p > 0 && p < 0.1 ? "<0.1%" : p.toFixed(1) + "%";
  }
  function fmtRel(ms, step) {
    var d = step ? Math.max(0, Math.min(6, Math.ceil(-Math.log10(step / 1000)))) : 3;
    var s = (Math.abs(ms) / 1000).toFixed(d);
    return (ms < 0 ? "−" : "+") + s + " s";
  }
  function utcAt(ms) {
    var us = Math.round(D.t0_us + ms * 1000);
    var iso = new Date(Math.floor(us / 1000)).toISOString();
    var micro = String(((us % 1000) + 1000) % 1000).padStart(3, "0");
    return iso.replace("Z", micro + "Z");
  }
  function frameText(f) { return f[0] + "  " + D.files[f[1]] + (f[2] ? ":" + f[2] : ""); }
  function where(file, lines) {
    if (!file) return "";
    if (!lines || !lines.length) return file;
    return file + ":" + lines.join(", ");
  }

  // -------------------------------------------------------------- timeline
  var TL = $("timeline");
  var nL = D.lanes.length;
  var lf = new Int32Array(nL), lt = new Int32Array(nL), lmax = new Float64Array(nL);
  (function () {
    var i = 0;
    for (var l = 0; l < nL; l++) {
      lf[l] = i;
      while (i < N && B.lane[i] === l) { if (B.dur[i] > lmax[l]) lmax[l] = B.dur[i]; i++; }
      lt[l] = i;
    }
  })();
  function lower(l, x) { // first block of lane l starting at or after x
    var a = lf[l], b = lt[l];
    while (a < b) { var m = (a + b) >> 1; if (B.start[m] < x) a = m + 1; else b = m; }
    return a;
  }

  var span = D.span > 0 ? D.span : 1000;
  var pad = Math.max(span * 0.015, 2);
  var FULL = [-pad, span + pad];
  var v0 = FULL[0], v1 = FULL[1];
  var sel = -1;

  var axisTrack = el("div", { class: "track", "aria-hidden": "true" });
  var grid = el("div", { class: "grid", "aria-hidden": "true" });
  var brush = el("div", { class: "brush", hidden: "" });
  var tracks = [];
  TL.textContent = "";
  TL.appendChild(el("div", { class: "axis" }, [
    el("div", { class: "lane-label" }, "time since the first block"), axisTrack]));
  if (!nL) TL.appendChild(el("p", { class: "note" }, "No loop threads in the input: nothing to draw."));
  D.lanes.forEach(function (lane, l) {
    var title = lane.label + (lane.cmdline ? "\n" + lane.cmdline : "") + (lane.source ? "\n" + lane.source : "");
    var label = el("div", { class: "lane-label", title: title }, [lane.label,
      lane.source ? el("span", { class: "src" }, lane.source) :
        lane.cmdline ? el("span", { class: "src" }, lane.cmdline) : null]);
    var track = el("div", { class: "track", "data-lane": l });
    tracks.push(track);
    TL.appendChild(el("div", { class: "lane", role: "group", "aria-label": "Blocks of " + lane.label }, [label, track]));
  });
  TL.insertBefore(grid, TL.children[1] || null);
  TL.appendChild(brush);

  function width() { return tracks.length ? tracks[0].clientWidth : axisTrack.clientWidth; }

  function dominant(first, last) {
    var by = new Map(), best = -1, bestMs = -1;
    for (var i = first; i <= last; i++) by.set(B.cul[i], (by.get(B.cul[i]) || 0) + B.dur[i]);
    by.forEach(function (ms, r) { if (ms > bestMs || (ms === bestMs && r < best)) { best = r; bestMs = ms; } });
    return best;
  }

  var stats;
  function render() {
    var W = width();
    if (!W) return;
    var k = W / (v1 - v0);
    stats = { inView: 0, single: 0, merged: 0, mergedBars: 0 };
    drawAxis(W, k);
    for (var l = 0; l < nL; l++) {
      var frag = document.createDocumentFragment();
      var g = null;
      for (var i = lower(l, v0 - lmax[l]); i < lt[l]; i++) {
        var s = B.start[i];
        if (s > v1) break;
        var e = s + B.dur[i];
        if (e < v0) continue;
        var x0 = (s - v0) * k, x1 = Math.max((e - v0) * k, x0 + MINW);
        if (g && x0 <= g.x1 + GAP && x0 < g.x0 + MAXW) {
          g.x1 = Math.max(g.x1, x1); g.last = i; g.n++; g.ms += B.dur[i];
          if (B.cul[i] === sel) g.hl++;
        } else {
          if (g) frag.appendChild(bar(g, W));
          g = { x0: x0, x1: x1, first: i, last: i, n: 1, ms: B.dur[i], hl: B.cul[i] === sel ? 1 : 0 };
        }
      }
      if (g) frag.appendChild(bar(g, W));
      tracks[l].textContent = "";
      tracks[l].appendChild(frag);
    }
    var note = "In view: " + stats.inView.toLocaleString("en") + " of " + N.toLocaleString("en") + " blocks";
    if (stats.merged) {
      note += "; " + stats.single.toLocaleString("en") + " drawn one bar each, " + stats.merged.toLocaleString("en") +
        " merged into " + stats.mergedBars.toLocaleString("en") +
        " bars with a double top edge (blocks closer than 1 px at this zoom; a merged bar's height shows how much of its stretch of time the loop was blocked, its pattern the culprit with the most time in it; zoom in to tell the blocks apart).";
    } else note += ", one bar each.";
    if (D.hidden) note += " The " + D.hidden.toLocaleString("en") + " shortest of the " + D.blocks.toLocaleString("en") +
      " blocks are not on the timeline (the page carries the longest " + N.toLocaleString("en") + "); the tables and flame graphs count them all.";
    if (D.stacks_omitted) note += " " + D.stacks_omitted.toLocaleString("en") + " of the lightest distinct stacks are not carried for the tooltips (size budget); the flame graphs have them.";
    $("timeline-note").textContent = note;
    TL.setAttribute("data-in-view", stats.inView);
    $("view-from").value = (v0 / 1000).toFixed(3);
    $("view-to").value = (v1 / 1000).toFixed(3);
    $("view-desc").textContent = "Showing " + fmtMs(v1 - v0) + " from " + utcAt(v0).replace("T", " ") + " (UTC)";
  }

  function bar(g, W) {
    var left = Math.max(g.x0, -2), right = Math.min(g.x1, W + 2);
    var single = g.n === 1, i = g.first;
    var r = single ? B.cul[i] : dominant(g.first, g.last);
    var b = el("div", { class: "bar " + culCls(r) + (single ? "" : " agg"), tabindex: "0", role: "button",
      "data-f": g.first, "data-l": g.last });
    b.style.left = left.toFixed(1) + "px";
    b.style.width = Math.max(right - left, MINW).toFixed(1) + "px";
    var c = code(r), w = right - left, label;
    stats.inView += g.n;
    if (single) {
      stats.single++;
      var fl = B.flag[i];
      if (fl & 1) b.classList.add("ongoing");
      if (fl & 2) b.classList.add("truncated");
      label = w >= c.length * 8 + 8 ? c : "";
      b.setAttribute("aria-label", c + " " + culName(r) + ": " + fmtMs(B.dur[i]) + (fl & 1 ? " so far, still going" : "") +
        (fl & 2 ? ", cut short" : "") + ", " + B.samp[i] + " samples, at " + fmtRel(B.start[i]) +
        (r === sel ? ", highlighted" : ""));
      if (sel >= 0) b.classList.add(r === sel ? "hl" : "dim");
    } else {
      stats.merged += g.n; stats.mergedBars++;
      // Height: the share of the bar's stretch of time the loop was blocked.
      var z = B.start[g.first];
      for (var j = g.first; j <= g.last; j++) z = Math.max(z, B.start[j] + B.dur[j]);
      var frac = Math.min(1, g.ms / Math.max(z - B.start[g.first], 1e-3));
      var h = Math.round(12 + 26 * frac);
      b.style.height = h + "px";
      b.style.top = (41 - h) + "px";
      var full = c + " ×" + g.n;
      label = w >= full.length * 7 + 8 ? full : w >= c.length * 8 + 8 ? c : "";
      b.setAttribute("aria-label", g.n + " blocks merged, " + fmtMs(g.ms) + " blocked, mostly " + c + " " + culName(r) +
        (g.hl ? ", " + g.hl + " of the highlighted culprit" : "") + ". Enter zooms in.");
      if (sel >= 0) b.classList.add(g.hl ? "hl" : "dim");
    }
    if (label) b.textContent = label;
    return b;
  }

  function drawAxis(W, k) {
    axisTrack.textContent = ""; grid.textContent = "";
    var spanV = v1 - v0, target = spanV / Math.max(2, W / 110);
    var p = Math.pow(10, Math.floor(Math.log10(target))), step = p * 10;
    [1, 2, 5, 10].some(function (m) { if (p * m >= target) { step = p * m; return true; } return false; });
    for (var t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      var x = (t - v0) * k;
      axisTrack.appendChild(el("div", { class: "tick", style: "left:" + x.toFixed(1) + "px" }, fmtRel(t, step)));
      grid.appendChild(el("div", { class: "gl", style: "left:" + x.toFixed(1) + "px" }));
    }
  }

  function setView(a, b) {
    var min = 0.05; // ms
    if (!(b - a > min)) { var m = (a + b) / 2; a = m - min / 2; b = m + min / 2; }
    var lim = FULL[1] - FULL[0];
    if (b - a > lim) { a = FULL[0]; b = FULL[1]; }
    if (a < FULL[0]) { b += FULL[0] - a; a = FULL[0]; }
    if (b > FULL[1]) { a -= b - FULL[1]; b = FULL[1]; }
    v0 = a; v1 = b;
    hideTip();
    render();
  }
  function zoom(f) { var m = (v0 + v1) / 2, h = (v1 - v0) * f / 2; setView(m - h, m + h); }
  function pan(f) { var d = (v1 - v0) * f; setView(v0 + d, v1 + d); }
  $("zoom-in").addEventListener("click", function () { zoom(0.5); });
  $("zoom-out").addEventListener("click", function () { zoom(2); });
  $("pan-left").addEventListener("click", function () { pan(-0.25); });
  $("pan-right").addEventListener("click", function () { pan(0.25); });
  $("zoom-all").addEventListener("click", function () { setView(FULL[0], FULL[1]); });
  function fromInputs() {
    var a = parseFloat($("view-from").value) * 1000, b = parseFloat($("view-to").value) * 1000;
    if (isFinite(a) && isFinite(b) && b > a) setView(a, b);
  }
  $("view-from").addEventListener("change", fromInputs);
  $("view-to").addEventListener("change", fromInputs);
  document.addEventListener("keydown", function (ev) {
    var t = ev.target;
    if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
    if (!$("timeline-section").contains(t) && t !== document.body) return;
    if (ev.key === "+" || ev.key === "=") { zoom(0.5); ev.preventDefault(); }
    else if (ev.key === "-" || ev.key === "_") { zoom(2); ev.preventDefault(); }
    else if (ev.key === "Escape") hideTip();
  });

  // Drag to zoom.
  var drag = null, dragged = false;
  TL.addEventListener("mousedown", function (ev) {
    if (ev.button !== 0) return;
    var tr = ev.target.closest && ev.target.closest(".track");
    if (!tr || tr === axisTrack) return;
    var r = tr.getBoundingClientRect(), tl = TL.getBoundingClientRect();
    drag = { x: ev.clientX, left: r.left, right: r.right, off: r.left - tl.left };
    dragged = false;
    ev.preventDefault();
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) return;
    var x = Math.min(Math.max(ev.clientX, drag.left), drag.right);
    if (Math.abs(x - drag.x) < 5) { brush.hidden = true; return; }
    dragged = true;
    hideTip();
    brush.hidden = false;
    brush.style.left = (drag.off + Math.min(x, drag.x) - drag.left) + "px";
    brush.style.width = Math.abs(x - drag.x) + "px";
  });
  window.addEventListener("mouseup", function (ev) {
    if (!drag) return;
    var d = drag; drag = null; brush.hidden = true;
    if (!dragged) return;
    var x = Math.min(Math.max(ev.clientX, d.left), d.right);
    var k = (v1 - v0) / (d.right - d.left);
    var a = v0 + (Math.min(x, d.x) - d.left) * k, b = v0 + (Math.max(x, d.x) - d.left) * k;
    setView(a, b);
  });

  // Bars: hover, focus, activation, arrow keys.
  function barOf(t) { return t && t.closest ? t.closest(".bar") : null; }
  TL.addEventListener("click", function (ev) {
    if (dragged) { dragged = false; return; }
    var b = barOf(ev.target);
    if (b) activate(b);
  });
  TL.addEventListener("keydown", function (ev) {
    var b = barOf(ev.target);
    if (!b) return;
    if (ev.key === "Enter" || ev.key === " ") { activate(b); ev.preventDefault(); }
    else if (ev.key === "ArrowRight" || ev.key === "ArrowLeft") {
      var n = ev.key === "ArrowRight" ? b.nextElementSibling : b.previousElementSibling;
      if (n) n.focus();
      ev.preventDefault();
    } else if (ev.key === "ArrowUp" || ev.key === "ArrowDown") {
      var l = +b.parentNode.getAttribute("data-lane") + (ev.key === "ArrowDown" ? 1 : -1);
      for (; l >= 0 && l < nL; l += ev.key === "ArrowDown" ? 1 : -1) {
        var bars = tracks[l].children;
        if (!bars.length) continue;
        var x = b.offsetLeft, best = bars[0];
        for (var j = 0; j < bars.length; j++) if (Math.abs(bars[j].offsetLeft - x) < Math.abs(best.offsetLeft - x)) best = bars[j];
        best.focus();
        break;
      }
      ev.preventDefault();
    }
  });
  function activate(b) {
    var f = +b.getAttribute("data-f"), l = +b.getAttribute("data-l");
    if (f === l) { toggleCulprit(B.cul[f]); refocus(B.lane[f], f); return; }
    var a = B.start[f], z = a;
    for (var i = f; i <= l; i++) z = Math.max(z, B.start[i] + B.dur[i]);
    var m = Math.max((z - a) * 0.05, 0.5);
    setView(a - m, z + m);
    refocus(B.lane[f], f);
  }
  function refocus(lane, idx) {
    var bars = tracks[lane].children;
    for (var j = 0; j < bars.length; j++) {
      if (+bars[j].getAttribute("data-f") <= idx && idx <= +bars[j].getAttribute("data-l")) { bars[j].focus(); return; }
    }
    if (bars.length) bars[0].focus();
  }

  var tip = $("tip");
  function hideTip() { tip.hidden = true; }
  function showTip(b, x, y) {
    var f = +b.getAttribute("data-f"), l = +b.getAttribute("data-l");
    tip.textContent = "";
    if (f === l) tipBlock(f); else tipGroup(f, l);
    tip.hidden = false;
    var r = b.getBoundingClientRect(), tw = tip.offsetWidth, th = tip.offsetHeight;
    if (x === undefined) { x = r.left; y = r.bottom + 6; } else { x += 14; y += 18; }
    if (x + tw > window.innerWidth - 8) x = Math.max(8, window.innerWidth - tw - 8);
    if (y + th > window.innerHeight - 8) y = Math.max(8, r.top - th - 6);
    tip.style.left = x + "px"; tip.style.top = y + "px";
  }
  function tipBlock(i) {
    var r = B.cul[i], fl = B.flag[i], lane = D.lanes[B.lane[i]];
    add(tip, el("div", { class: "t" }, [el("span", { class: "k " + culCls(r) }, code(r)), culName(r)]));
    add(tip, el("div", { class: "mono" }, where(culFile(r), [B.line[i]])));
    add(tip, el("div", null, [el("strong", null, fmtMs(B.dur[i]) + (fl & 1 ? " so far" : "")), " · " + B.samp[i] + " samples · " +
      (fl & 1 ? "still going when the last line was written (no ended line)" : "ended") + (fl & 2 ? " · cut short: aelm stopped watching" : "")]));
    add(tip, el("div", null, "at " + utcAt(B.start[i]).replace("T", " ") + " UTC (" + fmtRel(B.start[i]) + ")"));
    add(tip, el("div", { class: "muted" }, lane.label + (lane.source ? " · " + lane.source : "")));
    if (B.callee[i] >= 0) add(tip, el("div", null, ["callee: ", el("span", { class: "mono" }, frameText(D.frames[B.callee[i]]))]));
    var s = B.stack[i];
    if (s >= 0) {
      var frames = D.stacks[s], ol = el("ol");
      frames.slice(0, 20).forEach(function (fi) {
        var fr = D.frames[fi];
        var isCul = D.files[fr[1]] === culFile(r) && fr[2] === B.line[i] && culName(r).endsWith(fr[0]);
        ol.appendChild(el("li", { class: isCul ? "cul" : null }, frameText(fr) + (isCul ? "   ◀ culprit" : "")));
      });
      add(tip, el("div", { class: "muted" }, "Stack, innermost first:"));
      add(tip, ol);
      if (frames.length > 20) add(tip, el("div", { class: "more" }, "… " + (frames.length - 20) + " more frames"));
    } else if (s === -2) {
      add(tip, el("div", { class: "more" }, "Stack not carried by this page (it keeps the heaviest stacks within its size budget); the flame graph has it."));
    }
    add(tip, el("div", { class: "more" }, sel === r ? "Enter or click: clear the highlight" : "Enter or click: highlight this culprit's blocks"));
  }
  function tipGroup(f, l) {
    var by = new Map(), ms = 0, z = B.start[f];
    for (var i = f; i <= l; i++) {
      var e = by.get(B.cul[i]) || [0, 0];
      e[0] += B.dur[i]; e[1]++; by.set(B.cul[i], e); ms += B.dur[i];
      z = Math.max(z, B.start[i] + B.dur[i]);
    }
    var lane = D.lanes[B.lane[f]];
    add(tip, el("div", { class: "t" }, (l - f + 1) + " blocks merged at this zoom"));
    add(tip, el("div", null, [el("strong", null, fmtMs(ms)), " blocked between " + fmtRel(B.start[f]) + " and " + fmtRel(z)]));
    add(tip, el("div", { class: "muted" }, lane.label));
    var top = Array.from(by.entries()).sort(function (a, b) { return b[1][0] - a[1][0]; });
    var ol = el("ol");
    top.slice(0, 6).forEach(function (e) {
      ol.appendChild(el("li", null, [el("span", { class: "k " + culCls(e[0]) }, code(e[0])),
        culName(e[0]) + " — " + fmtMs(e[1][0]) + " in " + e[1][1] + (e[1][1] === 1 ? " block" : " blocks")]));
    });
    add(tip, ol);
    if (top.length > 6) add(tip, el("div", { class: "more" }, "… and " + (top.length - 6) + " more culprits"));
    add(tip, el("div", { class: "more" }, "Enter or click: zoom in"));
  }
  TL.addEventListener("mouseover", function (ev) { var b = barOf(ev.target); if (b && !drag) showTip(b, ev.clientX, ev.clientY); });
  TL.addEventListener("mousemove", function (ev) { var b = barOf(ev.target); if (b && !drag && !tip.hidden) showTip(b, ev.clientX, ev.clientY); });
  TL.addEventListener("mouseout", function (ev) { if (barOf(ev.target)) hideTip(); });
  TL.addEventListener("focusin", function (ev) { var b = barOf(ev.target); if (b) showTip(b); });
  TL.addEventListener("focusout", function (ev) { if (barOf(ev.target)) hideTip(); });

  // -------------------------------------------------------- culprits table
  var COLS = [
    { k: "code", t: "Key", num: false, v: function (r) { return r; } },
    { k: "name", t: "Culprit", num: false, v: function (r) { return culs[r].name.toLowerCase(); } },
    { k: "n", t: "Blocks", num: true },
    { k: "total", t: "Total blocked", num: true },
    { k: "p50", t: "p50", num: true },
    { k: "p99", t: "p99", num: true },
    { k: "max", t: "Max", num: true },
    { k: "share", t: "Share of loop time", num: true }
  ];
  var sortK = "total", sortDesc = true;
  var table = $("culprits"), thead = table.tHead, tbody = table.tBodies[0];
  var maxShare = culs.reduce(function (m, c) { return Math.max(m, c.share || 0); }, 0);

  function drawHead() {
    thead.textContent = "";
    var tr = el("tr");
    COLS.forEach(function (c) {
      var on = c.k === sortK;
      var th = el("th", { scope: "col", class: c.num ? "num" : null, "aria-sort": on ? (sortDesc ? "descending" : "ascending") : null });
      var btn = el("button", { type: "button", title: "Sort by " + c.t.toLowerCase() },
        [c.t, el("span", { class: "dir", "aria-hidden": "true" }, on ? (sortDesc ? "▼" : "▲") : "⇅")]);
      btn.addEventListener("click", function () {
        if (sortK === c.k) sortDesc = !sortDesc; else { sortK = c.k; sortDesc = c.num; }
        drawHead(); drawBody();
      });
      th.appendChild(btn);
      tr.appendChild(th);
    });
    thead.appendChild(tr);
  }
  function drawBody() {
    var col = COLS.filter(function (c) { return c.k === sortK; })[0];
    var val = col.v || function (r) { var x = culs[r][col.k]; return x === null ? -1 : x; };
    var order = culs.map(function (_, r) { return r; });
    order.sort(function (a, b) {
      var x = val(a), y = val(b), d = x < y ? -1 : x > y ? 1 : 0;
      return (sortDesc ? -d : d) || a - b;
    });
    tbody.textContent = "";
    order.slice(0, ROWS).forEach(function (r) {
      var c = culs[r];
      var pick = el("button", { type: "button", class: "pick", "aria-pressed": r === sel ? "true" : "false",
        title: r === sel ? "Clear the highlight" : "Highlight its blocks and show its flame graph" }, c.name);
      pick.addEventListener("click", function () { toggleCulprit(r); });
      var cell = el("td", null, [pick, el("div", { class: "where" }, where(c.file, c.lines))]);
      if (c.ongoing) cell.appendChild(el("div", { class: "where" }, c.ongoing + " still going when the last line was written (counted with the duration so far)"));
      var share = el("td", { class: "num" }, [
        el("span", { class: "sharebar", style: "width:" + (maxShare > 0 && c.share ? Math.max(1, c.share / maxShare * 60) : 0).toFixed(1) + "px", "aria-hidden": "true" }),
        fmtPct(c.share)]);
      tbody.appendChild(el("tr", { class: r === sel ? "sel" : null }, [
        el("td", null, el("span", { class: "swatch " + culCls(r), title: "Key of this culprit on the timeline" }, code(r))),
        cell,
        el("td", { class: "num" }, c.n.toLocaleString("en")),
        el("td", { class: "num" }, fmtMs(c.total)),
        el("td", { class: "num" }, fmtMs(c.p50)),
        el("td", { class: "num" }, fmtMs(c.p99)),
        el("td", { class: "num" }, fmtMs(c.max)),
        share
      ]));
    });
    if (!culs.length) tbody.appendChild(el("tr", null, el("td", { colspan: COLS.length }, "No blocks: nothing blocked a loop for the threshold or longer.")));
    var notes = [];
    if (culs.length > ROWS) notes.push("Showing " + ROWS + " of " + culs.length.toLocaleString("en") + " culprits in this order.");
    if (D.culprits_rest) notes.push(D.culprits_rest.culprits.toLocaleString("en") + " more culprits (" + D.culprits_rest.n.toLocaleString("en") +
      " blocks, " + fmtMs(D.culprits_rest.total) + ") are not in the table.");
    $("culprits-note").textContent = notes.join(" ");
  }

  function toggleCulprit(r) { setCulprit(sel === r ? -1 : r, true); }
  function setCulprit(r, flameToo) {
    sel = r;
    drawBody();
    render();
    var hn = $("highlight-note");
    hn.textContent = "";
    if (r >= 0) {
      var n = 0, ms = 0;
      for (var i = 0; i < N; i++) if (B.cul[i] === r) { n++; ms += B.dur[i]; }
      var clear = el("button", { type: "button" }, "Clear the highlight");
      clear.addEventListener("click", function () { setCulprit(-1, true); });
      add(hn, ["Highlighted: ", el("span", { class: "swatch " + culCls(r) }, code(r)), " " + culName(r) + " — " + n + (n === 1 ? " block, " : " blocks, ") +
        fmtMs(ms) + ". Its bars have a thick black outline; the others are faded. ", clear]);
    }
    if (flameToo) {
      if (r < 0) showFlame(0);
      else if (r < culs.length && culs[r].flame !== null && culs[r].flame !== undefined) showFlame(culs[r].flame);
      else if (D.flames.length) {
        showFlame(0);
        $("flame-note").textContent = code(r) + " has no flame graph of its own (only the " + D.flame_top + " culprits with the most blocked time do): showing all blocks.";
      }
    }
  }

  // ------------------------------------------------------------ flame graph
  var FRAME_HEAD = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>html,body{margin:0;background:#fff}svg{display:block;width:100%}</style>" +
    "<script>(function(){var r=history.replaceState;history.replaceState=function(){try{return r.apply(history,arguments)}catch(e){}}})()<\/script>" +
    "</head><body>";
  var pickSel = $("flame-pick"), frame = $("flame");
  D.flames.forEach(function (f, i) {
    var text = f.culprit === null ? "All culprits (" + D.blocks.toLocaleString("en") + " blocks)" : code(f.culprit) + " — " + f.title;
    pickSel.appendChild(el("option", { value: i }, text));
  });
  pickSel.addEventListener("change", function () {
    var i = +pickSel.value, f = D.flames[i];
    setCulprit(f.culprit === null ? -1 : f.culprit, false);
    showFlame(i);
  });
  function showFlame(i) {
    var f = D.flames[i];
    $("flame-note").textContent = "";
    if (!f) return;
    pickSel.value = i;
    frame.srcdoc = FRAME_HEAD + f.svg + "</body></html>";
    frame.style.height = (f.height + 6) + "px";
    frame.title = "Flame graph: " + (f.culprit === null ? "all culprits" : f.title);
    stacksText(f.culprit);
  }
  function stacksText(r) {
    var by = new Map(), total = 0;
    for (var i = 0; i < N; i++) {
      if (r !== null && B.cul[i] !== r) continue;
      var e = by.get(B.stack[i]) || [0, 0];
      e[0] += B.dur[i]; e[1]++; total += B.dur[i];
      by.set(B.stack[i], e);
    }
    var rows = Array.from(by.entries()).sort(function (a, b) { return b[1][0] - a[1][0]; });
    var body = $("stacks-text").tBodies[0];
    body.textContent = "";
    rows.slice(0, 30).forEach(function (e) {
      var s = e[0] >= 0 ? D.stacks[e[0]].slice().reverse().map(function (fi) { var fr = D.frames[fi]; return fr[0] + " (" + D.files[fr[1]].split("/").pop() + ":" + fr[2] + ")"; }).join("  →  ") :
        e[0] === -2 ? "(stacks not carried by this page: see the flame graph)" : "(no stack)";
      body.appendChild(el("tr", null, [el("td", { class: "num" }, fmtMs(e[1][0])), el("td", { class: "num" }, fmtPct(total ? e[1][0] / total : 0)),
        el("td", { class: "num" }, e[1][1]), el("td", { class: "stack" }, s)]));
    });
    if (rows.length > 30) body.appendChild(el("tr", null, el("td", { colspan: 4, class: "muted" }, (rows.length - 30) + " lighter stacks not listed")));
  }
  if (!D.flames.length) {
    frame.hidden = true;
    pickSel.disabled = true;
    $("flame-note").textContent = "Nothing to draw: no blocks.";
  }

  // ------------------------------------------------------------------ start
  drawHead();
  drawBody();
  render();
  if (D.flames.length) showFlame(0);
  var pending = false;
  window.addEventListener("resize", function () {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; render(); });
  });
})();
