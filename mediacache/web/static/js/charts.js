// Hand-made SVG charts (no library): colours come from the stylesheet's classes, so they follow light and dark.
const SVG = "http://www.w3.org/2000/svg";

function node(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  if (text !== undefined) element.textContent = text;
  return element;
}

function chart(width, height, label) {
  // Drawn at its own size, shrunk (never stretched) to fit a narrow screen.
  return node("svg", { viewBox: `0 0 ${width} ${height}`, width, height, class: "chart", role: "img", "aria-label": label });
}

/** Horizontal bars, one per [label, value]; ``format`` writes each value. */
export function bars(pairs, { label, format = String, max } = {}) {
  const rowHeight = 24;
  const width = 440;
  const labelWidth = 110;
  const svg = chart(width, Math.max(1, pairs.length) * rowHeight + 4, label);
  const top = max ?? Math.max(1, ...pairs.map(([, value]) => value));
  pairs.forEach(([name, value], index) => {
    const y = index * rowHeight + 2;
    const length = ((width - labelWidth - 70) * value) / top;
    svg.append(node("text", { x: 0, y: y + 15 }, name));
    if (max !== undefined) svg.append(node("rect", { x: labelWidth, y: y + 3, width: width - labelWidth - 70, height: 16, rx: 3, class: "track" }));
    const bar = node("rect", { x: labelWidth, y: y + 3, width: Math.max(value ? 2 : 0, length), height: 16, rx: 3, class: `c${(index % 7) + 1}` });
    bar.append(node("title", {}, `${name}: ${format(value)}`));
    svg.append(bar, node("text", { x: labelWidth + Math.max(2, length) + 6, y: y + 15, class: "muted" }, format(value)));
  });
  if (!pairs.length) svg.append(node("text", { x: 0, y: 16, class: "muted" }, "nothing yet"));
  return svg;
}

/** Columns per day for several series side by side: series = [[name, values]], days = labels. */
export function columns(days, series, { label } = {}) {
  const width = 720;
  const height = 200;
  const bottom = 24;
  const left = 34;
  const svg = chart(width, height, label);
  const top = Math.max(1, ...series.flatMap(([, values]) => values));
  const slot = (width - left) / days.length;
  const barWidth = Math.max(1, (slot - 2) / series.length);
  const scale = (value) => ((height - bottom - 8) * value) / top;
  svg.append(node("line", { x1: left, x2: width, y1: height - bottom, y2: height - bottom, class: "axis" }));
  svg.append(node("text", { x: 0, y: 12, class: "muted" }, String(top)), node("text", { x: 0, y: height - bottom, class: "muted" }, "0"));
  days.forEach((day, index) => {
    series.forEach(([name, values], which) => {
      const value = values[index];
      const h = scale(value);
      const bar = node("rect", { x: left + index * slot + which * barWidth, y: height - bottom - h, width: barWidth, height: h, class: `c${which + 1}` });
      bar.append(node("title", {}, `${day} ${name}: ${value}`));
      svg.append(bar);
    });
    const last = days.length - 1;
    if ((index % 7 === 0 && last - index >= 4) || index === last) {
      const x = index === last ? width : left + index * slot;
      svg.append(node("text", { x, y: height - 6, class: "muted", "text-anchor": index === last ? "end" : "start" }, day.slice(5)));
    }
  });
  return svg;
}
