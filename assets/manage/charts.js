// calltrack manager console: small SVG charts drawn with DOM calls from the series JSON.
// Every label is set with textContent, so an API value can never become markup, and there
// is no inline style: colours come from classes in app.css, which the CSP allows.
"use strict";

const Charts = (() => {
  const SVG = "http://www.w3.org/2000/svg";
  // The drawing's width in viewBox units: a chart across the whole page is drawn twice as
  // wide, not stretched, so its text stays the size of the other charts' text. Set by each
  // chart function before it draws (drawing is synchronous).
  let W = 640;
  const H = 220;
  const M = { top: 12, right: 8, bottom: 28, left: 40 };

  function node(tag, attrs = {}, text) {
    const n = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  /** 0, 1, 2, 5, 10, 20, 50 …: a round top for the y axis at or above `max`. */
  function niceMax(max) {
    if (max <= 0) return 1;
    const power = 10 ** Math.floor(Math.log10(max));
    for (const step of [1, 2, 5, 10]) if (max <= step * power) return step * power;
    return 10 * power;
  }

  function frame(container, label) {
    const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart-svg", preserveAspectRatio: "xMidYMid meet" });
    svg.append(node("title", {}, label));
    container.replaceChildren(svg);
    return svg;
  }

  /** Horizontal grid lines and y labels for 0, half and the top. */
  function yAxis(svg, top, format) {
    const plotH = H - M.top - M.bottom;
    for (const f of [0, 0.5, 1]) {
      const y = M.top + plotH * (1 - f);
      svg.append(node("line", { x1: M.left, x2: W - M.right, y1: y, y2: y, class: "grid" }));
      svg.append(node("text", { x: M.left - 6, y: y + 4, class: "axis", "text-anchor": "end" }, format(top * f)));
    }
  }

  /** A label under every k-th slot so they never overlap. */
  function xLabels(svg, labels, slot) {
    const every = Math.max(1, Math.ceil(labels.length / 10));
    labels.forEach((label, i) => {
      if (i % every !== 0) return;
      const x = M.left + slot * (i + 0.5);
      svg.append(node("text", { x, y: H - 8, class: "axis", "text-anchor": "middle" }, label));
    });
  }

  const count = (n) => String(Math.round(n));

  /**
   * Bars stacked per slot: `series` is [{ name, key, values }] bottom up; each segment
   * has a tooltip naming its day, count and series.
   */
  function stacked(container, { labels, series, label, titles, wide }) {
    W = wide ? 1280 : 640;
    const svg = frame(container, label);
    const totals = labels.map((_, i) => series.reduce((sum, s) => sum + s.values[i], 0));
    const top = niceMax(Math.max(0, ...totals));
    const plotH = H - M.top - M.bottom;
    const slot = (W - M.left - M.right) / Math.max(1, labels.length);
    const barW = Math.max(1, slot * 0.7);
    yAxis(svg, top, count);
    labels.forEach((_, i) => {
      let base = 0;
      for (const s of series) {
        const v = s.values[i];
        if (v <= 0) continue;
        const h = (v / top) * plotH;
        const y = M.top + plotH - ((base + v) / top) * plotH;
        const rect = node("rect", { x: M.left + slot * i + (slot - barW) / 2, y, width: barW, height: Math.max(h, 0.5), class: `seg s-${s.key}` });
        rect.append(node("title", {}, `${titles[i]}: ${v} ${s.name.toLowerCase()}`));
        svg.append(rect);
        base += v;
      }
    });
    xLabels(svg, labels, slot);
    return svg;
  }

  /** Single bars per slot. */
  function bars(container, { labels, values, label, titles, cls, unit, wide }) {
    return stacked(container, { labels, label, titles, wide, series: [{ name: unit, key: cls, values }] });
  }

  /** A line of fractions (0..1) with dots; a null value breaks the line (no calls that day). */
  function line(container, { labels, values, label, titles, format }) {
    W = 640;
    const svg = frame(container, label);
    const plotH = H - M.top - M.bottom;
    const slot = (W - M.left - M.right) / Math.max(1, labels.length);
    yAxis(svg, 1, format);
    let path = "";
    let pen = false;
    values.forEach((v, i) => {
      if (v === null) {
        pen = false;
        return;
      }
      const x = M.left + slot * (i + 0.5);
      const y = M.top + plotH * (1 - v);
      path += `${pen ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)} `;
      pen = true;
      const dot = node("circle", { cx: x, cy: y, r: 3.5, class: "dot" });
      dot.append(node("title", {}, `${titles[i]}: ${format(v)}`));
      svg.append(dot);
    });
    if (path) svg.insertBefore(node("path", { d: path.trim(), class: "line" }), svg.querySelector("circle"));
    xLabels(svg, labels, slot);
    return svg;
  }

  /** Horizontal bars, one per step, each with its count written beside it. */
  function funnel(container, { steps, label }) {
    W = 640;
    const rowH = 34;
    const height = steps.length * rowH + 8;
    const svg = node("svg", { viewBox: `0 0 ${W} ${height}`, role: "img", "aria-label": label, class: "chart-svg" });
    svg.append(node("title", {}, label));
    const top = Math.max(1, ...steps.map((s) => s.value));
    const labelW = 120;
    const barMax = W - labelW - 70;
    steps.forEach((s, i) => {
      const y = 4 + i * rowH;
      svg.append(node("text", { x: labelW - 8, y: y + 20, class: "axis strong", "text-anchor": "end" }, s.name));
      const w = (s.value / top) * barMax;
      svg.append(node("rect", { x: labelW, y: y + 4, width: Math.max(w, 1), height: rowH - 10, class: `seg s-${s.key}` }));
      svg.append(node("text", { x: labelW + Math.max(w, 1) + 6, y: y + 20, class: "axis" }, s.text));
    });
    container.replaceChildren(svg);
    return svg;
  }

  /** An empty chart says why, and what to do next. */
  function empty(container, message) {
    const p = document.createElement("p");
    p.className = "empty chart-empty";
    p.textContent = message;
    container.replaceChildren(p);
  }

  return { stacked, bars, line, funnel, empty, niceMax };
})();
