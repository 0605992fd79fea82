import pngjs from 'pngjs';

const { PNG } = pngjs;

export interface SparklineOptions {
  width?: number;
  height?: number;
  /** "#rgb", "#rrggbb" or "#rrggbbaa". */
  color?: string;
  /** Transparent when absent. */
  background?: string;
  /** Pixels, default 1; drawn with a square brush, so even widths round up to odd. */
  lineWidth?: number;
}

type Rgba = [number, number, number, number];

const MAX_SIDE = 2000;

function parseColor(hex: string): Rgba {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6}|[0-9a-f]{8})$/i.exec(hex);
  if (!m) throw new RangeError(`sparkline color must be #rgb, #rrggbb or #rrggbbaa, got "${hex}"`);
  let h = m[1]!;
  if (h.length === 3) h = [...h].map((c) => c + c).join('');
  if (h.length === 6) h += 'ff';
  return [0, 2, 4, 6].map((i) => parseInt(h.slice(i, i + 2), 16)) as Rgba;
}

function side(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 1 || value > MAX_SIDE) throw new RangeError(`sparkline ${what} must be an integer from 1 to ${MAX_SIDE}, got ${value}`);
  return value;
}

/**
 * A small line chart as PNG, for email: mail clients block SVG and remote images, so the
 * digest attaches these inline. Gaps (null) break the line; the last point gets a dot.
 */
export function sparklinePng(values: Array<number | null>, options: SparklineOptions = {}): Buffer {
  const width = side(options.width ?? 120, 'width');
  const height = side(options.height ?? 32, 'height');
  const color = parseColor(options.color ?? '#2563eb');
  const lineWidth = Math.max(1, Math.round(options.lineWidth ?? 1));
  const png = new PNG({ width, height });
  png.data.fill(0);
  if (options.background) {
    const bg = parseColor(options.background);
    for (let i = 0; i < png.data.length; i += 4) png.data.set(bg, i);
  }

  const plot = (x: number, y: number, radius: number): void => {
    for (let dy = -radius; dy <= radius; dy++) {
      for (let dx = -radius; dx <= radius; dx++) {
        const px = x + dx;
        const py = y + dy;
        if (px < 0 || py < 0 || px >= width || py >= height) continue;
        png.data.set(color, (py * width + px) * 4);
      }
    }
  };
  // Bresenham with a square brush: crisp enough at sparkline sizes, and no anti-aliasing needed.
  const brush = Math.floor(lineWidth / 2);
  const line = (x0: number, y0: number, x1: number, y1: number): void => {
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    for (;;) {
      plot(x0, y0, brush);
      if (x0 === x1 && y0 === y1) return;
      const e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  };

  const nums = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (nums.length > 0) {
    const dot = brush + 1;
    // Padding keeps the end dot and the thick line inside the image.
    const pad = Math.min(dot, Math.floor((Math.min(width, height) - 1) / 2));
    const min = Math.min(...nums);
    const span = Math.max(...nums) - min;
    const innerW = width - 1 - 2 * pad;
    const innerH = height - 1 - 2 * pad;
    const at = (i: number, v: number): [number, number] => [
      Math.round(pad + (values.length === 1 ? innerW / 2 : (i * innerW) / (values.length - 1))),
      // A flat series sits in the middle rather than on an edge.
      Math.round(pad + (span === 0 ? innerH / 2 : (1 - (v - min) / span) * innerH)),
    ];
    const ok = (v: number | null | undefined): v is number => v !== null && v !== undefined && Number.isFinite(v);

    let last: [number, number] | undefined;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!ok(v)) continue;
      const p = at(i, v);
      const prev = values[i - 1];
      const next = values[i + 1];
      if (ok(prev)) line(...at(i - 1, prev), ...p);
      else if (!ok(next)) plot(p[0], p[1], brush); // an isolated point would otherwise vanish
      last = p;
    }
    if (last) plot(last[0], last[1], dot);
  }
  return PNG.sync.write(png);
}
