/** A small hand-written SVG line chart: panels side by side, each with its own axes (linear or log) and legend. */

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  style?: "solid" | "dashed" | "dotted";
  /** Index into the palette; by default the series' own index. */
  color?: number;
}

export interface Panel {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Logarithmic axes; ticks then fall on the values given, or on powers of ten. */
  logX?: boolean;
  logY?: boolean;
  xTicks?: readonly number[];
}

const PANEL = { width: 470, height: 310, left: 62, right: 18, top: 46, bottom: 46 };
const DASHES = { solid: "", dashed: ' stroke-dasharray="7 4"', dotted: ' stroke-dasharray="2 3"' };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"];

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function label(value: number): string {
  if (value >= 1000) return `${+(value / 1000).toPrecision(3)}k`;
  return String(+value.toPrecision(3));
}

/** Ticks 1, 2 or 5 x 10^k apart from 0 to past `max`. */
function linearTicks(max: number): number[] {
  const raw = (max > 0 ? max : 1) / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= raw)!;
  return Array.from({ length: Math.ceil(max / step) + 1 }, (_, i) => i * step);
}

function logTicks(min: number, max: number): number[] {
  if (!(min > 0 && max > 0)) return [1, 10];
  const ticks: number[] = [];
  for (let power = Math.floor(Math.log10(min)); power <= Math.ceil(Math.log10(max)); power++) ticks.push(10 ** power);
  return ticks;
}

interface Axis {
  ticks: number[];
  position(value: number): number;
}

function axis(values: number[], log: boolean, given: readonly number[] | undefined, from: number, to: number): Axis {
  const finite = values.filter((value) => Number.isFinite(value) && (!log || value > 0));
  const ticks = given
    ? [...given]
    : log
      ? logTicks(Math.min(...finite), Math.max(...finite))
      : linearTicks(Math.max(...finite, 0));
  const scale = log ? Math.log10 : (value: number) => value;
  const [low, high] = [scale(ticks[0]!), scale(ticks[ticks.length - 1]!)];
  return { ticks, position: (value) => from + ((scale(value) - low) / (high - low || 1)) * (to - from) };
}

function renderPanel(panel: Panel, originX: number, originY: number): string {
  const { width, height, left, right, top, bottom } = PANEL;
  const [x0, x1, y0, y1] = [originX + left, originX + width - right, originY + height - bottom, originY + top];
  const points = panel.series.flatMap((series) => series.points);
  const x = axis(
    points.map(([value]) => value),
    Boolean(panel.logX),
    panel.xTicks,
    x0,
    x1,
  );
  const y = axis(
    points.map(([, value]) => value),
    Boolean(panel.logY),
    undefined,
    y0,
    y1,
  );
  const parts = [
    `<text x="${originX + width / 2}" y="${originY + 18}" text-anchor="middle" font-weight="bold">${escape(panel.title)}</text>`,
    `<rect x="${x0}" y="${y1}" width="${x1 - x0}" height="${y0 - y1}" fill="none" stroke="#999"/>`,
  ];
  for (const tick of x.ticks) {
    const at = x.position(tick).toFixed(1);
    parts.push(`<line x1="${at}" y1="${y0}" x2="${at}" y2="${y1}" stroke="#eee"/>`);
    parts.push(`<text x="${at}" y="${y0 + 16}" text-anchor="middle">${label(tick)}</text>`);
  }
  for (const tick of y.ticks) {
    const at = y.position(tick).toFixed(1);
    parts.push(`<line x1="${x0}" y1="${at}" x2="${x1}" y2="${at}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 6}" y="${at}" text-anchor="end" dominant-baseline="middle">${label(tick)}</text>`);
  }
  parts.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 36}" text-anchor="middle">${escape(panel.xLabel)}</text>`);
  parts.push(
    `<text transform="translate(${originX + 16} ${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escape(panel.yLabel)}</text>`,
  );
  const lines: string[] = [];
  const legendWidth = 36 + 6.2 * Math.max(...panel.series.map((series) => series.name.length));
  const legendHeight = panel.series.length * 15 + 6;
  const [legendX, legendY] = [x0 + 4, y1 + 4];
  const legend = [
    `<rect x="${legendX}" y="${legendY}" width="${legendWidth}" height="${legendHeight}" fill="white" fill-opacity="0.85" stroke="#ddd"/>`,
  ];
  panel.series.forEach((series, index) => {
    const color = COLORS[(series.color ?? index) % COLORS.length];
    const shown = series.points.filter(([px, py]) => Number.isFinite(px) && Number.isFinite(py));
    const path = shown.map(([px, py]) => `${x.position(px).toFixed(1)},${y.position(py).toFixed(1)}`).join(" ");
    const dash = DASHES[series.style ?? "solid"];
    lines.push(`<polyline points="${path}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    for (const [px, py] of shown) {
      lines.push(`<circle cx="${x.position(px).toFixed(1)}" cy="${y.position(py).toFixed(1)}" r="3" fill="${color}"/>`);
    }
    const rowY = legendY + 10 + index * 15;
    legend.push(
      `<line x1="${legendX + 4}" y1="${rowY}" x2="${legendX + 24}" y2="${rowY}" stroke="${color}" stroke-width="2"${dash}/>`,
    );
    legend.push(`<text x="${legendX + 29}" y="${rowY}" dominant-baseline="middle">${escape(series.name)}</text>`);
  });
  // The legend goes last, over the lines.
  return [...parts, ...lines, ...legend].join("\n");
}

/** The panels in rows of `columns`, under a title and an optional note. */
export function renderChart(title: string, note: string, panels: readonly Panel[], columns = 2): string {
  const header = 44;
  const rows = Math.ceil(panels.length / columns);
  const width = PANEL.width * Math.min(columns, panels.length);
  const height = header + rows * PANEL.height;
  const body = panels.map((panel, index) =>
    renderPanel(panel, (index % columns) * PANEL.width, header + Math.floor(index / columns) * PANEL.height),
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="${width / 2}" y="34" text-anchor="middle" fill="#555">${escape(note)}</text>`,
    ...body,
    "</svg>",
    "",
  ].join("\n");
}
